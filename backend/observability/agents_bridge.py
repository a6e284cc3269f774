"""Agents SDK spans as OpenTelemetry spans, instead of an upload to OpenAI's trace store.

The SDK times each agent step and tool call as its own spans and hands them to its trace
processors. `OpenTelemetryBridge` is such a processor: it opens an OTel span when an SDK span
starts (under the OTel span of its SDK parent, or under the OTel span current at that moment,
the chat turn) and ends it with the SDK span. It copies names only (agent, tool, MCP server),
never the SDK's recorded inputs and outputs (message text, tool arguments and results).

Model calls are skipped here: `backend.observability.model` traces every model call, for the
offline model too (which makes no SDK generation span), with the GenAI token counts.

`bridged_span()` makes the OTel twin of the SDK span running now the current OTel span, so
that what runs inside it (the MCP client's request, carrying `traceparent`) nests under it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from agents.tracing import (
    AgentSpanData,
    FunctionSpanData,
    GenerationSpanData,
    MCPListToolsSpanData,
    ResponseSpanData,
    Span,
    Trace,
    TracingProcessor,
    get_current_span,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from backend.observability.tracing import tracer

# Traced by the model wrapper instead (see the module docstring).
SKIPPED = (GenerationSpanData, ResponseSpanData)


def _describe(data: Any) -> tuple[str, dict[str, Any]]:
    """A span name and attributes (GenAI semantic conventions) for an SDK span's data."""
    if isinstance(data, AgentSpanData):
        return f"invoke_agent {data.name}", {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": data.name,
        }
    if isinstance(data, FunctionSpanData):
        return f"execute_tool {data.name}", {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": data.name,
            "gen_ai.tool.type": "function",
        }
    if isinstance(data, MCPListToolsSpanData):
        return "mcp list_tools", {"mcp.method.name": "tools/list", "mcp.server.name": data.server}
    return f"agents {data.type}", {"agents.span.type": data.type}


class OpenTelemetryBridge(TracingProcessor):
    def __init__(self) -> None:
        self._spans: dict[str, trace.Span] = {}  # SDK span id: its OTel twin, while open

    def on_trace_start(self, sdk_trace: Trace) -> None:
        """The SDK's trace is the run; the chat turn's OTel span already stands for it."""

    def on_trace_end(self, sdk_trace: Trace) -> None:
        pass

    def on_span_start(self, span: Span[Any]) -> None:
        if isinstance(span.span_data, SKIPPED):
            return
        parent = self._spans.get(span.parent_id) if span.parent_id else None
        context = trace.set_span_in_context(parent) if parent is not None else None
        name, attributes = _describe(span.span_data)
        kind = (
            SpanKind.CLIENT if isinstance(span.span_data, FunctionSpanData) else SpanKind.INTERNAL
        )
        self._spans[span.span_id] = tracer().start_span(
            name, context=context, kind=kind, attributes=attributes
        )

    def on_span_end(self, span: Span[Any]) -> None:
        otel_span = self._spans.pop(span.span_id, None)
        if otel_span is None:
            return
        if span.error is not None:
            # The SDK's error message can quote tool output; the type of failure is enough.
            otel_span.set_attribute("error.type", f"{span.span_data.type}_error")
            otel_span.set_status(Status(StatusCode.ERROR))
        otel_span.end()

    def otel_span_of(self, span: Span[Any] | None) -> trace.Span | None:
        return self._spans.get(span.span_id) if span is not None else None

    def shutdown(self) -> None:
        for otel_span in self._spans.values():
            otel_span.end()
        self._spans.clear()

    def force_flush(self) -> None:
        """The OTel span processors flush; nothing is buffered here."""


class _Installed:
    bridge: OpenTelemetryBridge | None = None


def install_bridge(*, keep_openai_export: bool) -> OpenTelemetryBridge:
    """Send the SDK's spans to OpenTelemetry (and, when TRACING=true, to OpenAI as well)."""
    from agents import add_trace_processor, set_trace_processors, set_tracing_disabled

    set_tracing_disabled(False)  # the SDK makes no spans at all while disabled
    if _Installed.bridge is None:
        _Installed.bridge = OpenTelemetryBridge()
        if keep_openai_export:
            add_trace_processor(_Installed.bridge)
        else:
            set_trace_processors([_Installed.bridge])
    return _Installed.bridge


@contextlib.contextmanager
def bridged_span() -> Iterator[None]:
    """Run the block with the OTel twin of the current SDK span as the current OTel span."""
    bridge = _Installed.bridge
    otel_span = bridge.otel_span_of(get_current_span()) if bridge is not None else None
    if otel_span is None:
        yield
        return
    with trace.use_span(otel_span, end_on_exit=False):
        yield
