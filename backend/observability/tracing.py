"""OpenTelemetry traces, off unless the operator asks for them with the standard variables.

On when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`; `none` is off) or when
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (then `otlp`).
The OTel SDK reads the rest itself from the process environment (not from `.env`):
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, the OTLP headers and
timeouts. OTLP goes over HTTP/protobuf (port 4318), which every collector accepts.

The packages come with the `[otel]` extra; without them the variables only log a warning.

What gets a span: each HTTP request (FastAPI / ASGI instrumentation), each outgoing HTTP request
(httpx2: the MCP client and the OpenAI client), each chat turn, each agent step and tool call
(the Agents SDK, bridged), each model call, each MCP request in the MCP server (the MCP SDK's own
spans, continued from the `traceparent` the client puts in each request's `_meta`) and each SQL
statement. Attributes name models, tools, token counts and ids, never message text, task titles
or tokens: no instrumentation here records bodies, headers or bound SQL parameters.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from sqlalchemy.engine import Engine
    from starlette.applications import Starlette

log = logging.getLogger(__name__)

TRACER_NAME = "todo-agent"
# Probes and scrapes every few seconds would bury the turns.
EXCLUDED_URLS = "/health,/ready,/metrics"


class _State:
    enabled = False


def tracing_enabled() -> bool:
    """Whether this process records spans (set up by `setup_tracing`)."""
    return _State.enabled


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def requested_exporters(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters the OTEL_* variables ask for; empty means tracing stays off."""
    if (environ.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return []
    named = [
        name.strip().lower()
        for name in (environ.get("OTEL_TRACES_EXPORTER") or "").split(",")
        if name.strip()
    ]
    if not named and (
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        named = ["otlp"]
    return [name for name in named if name != "none"]


def _processors(exporters: list[str]) -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    processors: list[SpanProcessor] = []
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER ignored", extra={"exporter": name})
    return processors


def setup_tracing(service_name: str, *, processor: SpanProcessor | None = None) -> bool:
    """Install the tracer provider of this process, once; True when tracing is on.

    `processor` (tests: an in-memory exporter) replaces the exporters the environment names.
    """
    if _State.enabled:
        return True
    exporters = requested_exporters()
    if processor is None and not exporters:
        return False
    try:
        from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider

        processors = [processor] if processor is not None else _processors(exporters)
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces, but the OpenTelemetry packages are missing; "
            "install todo-agent[otel]"
        )
        return False
    # OTEL_SERVICE_NAME, when set, names the service instead (Resource.create reads it).
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    for each in processors:
        provider.add_span_processor(each)
    trace.set_tracer_provider(provider)
    # Outgoing requests (MCP client, model provider) get spans and a `traceparent` header.
    HTTPX2ClientInstrumentor().instrument(tracer_provider=provider)
    _State.enabled = True
    log.info("tracing on", extra={"service": service_name, "exporters": exporters or ["test"]})
    return True


def instrument_fastapi(app: Any) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No spans for each ASGI receive/send: a streamed reply would get one per chunk.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # The MCP server's paths (/mcp, /health, /metrics) hold no ids: the path names the span.
    return f"{scope.get('method', 'HTTP')} {scope.get('path', '')}", {}


def instrument_starlette(app: Starlette) -> None:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=EXCLUDED_URLS,
        default_span_details=_span_details,
        exclude_spans=["receive", "send"],
    )


def trace_engine(engine: Engine) -> None:
    """A span per SQL statement on `engine` (its text with placeholders, no parameter values).

    The instrumentor's per-engine entry point works once per process (it is a singleton), and
    engines are made with sqlmodel's `create_engine`, bound before any patching could reach it;
    so each engine gets the instrumentation's own event listener object directly.
    """
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__
    from opentelemetry.metrics import get_meter

    connections = get_meter(__name__).create_up_down_counter("db.client.connections.usage")
    sql_tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    EngineTracer(sql_tracer, engine, connections)  # type: ignore[no-untyped-call]


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the span this code runs in, as hex, for log lines."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
