"""One trace per turn, from the API's HTTP request through the MCP tool call to its SQL.

Tracing is process-wide (one tracer provider per process), so both sides run here: the API in
a TestClient and the MCP server's real ASGI app under uvicorn on a thread of its own, reached
over loopback HTTP. Nothing but the request carries the trace across: the thread's event loop
shares no context with the API's, exactly as another process would. An in-memory exporter
collects every span of both.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import uvicorn
from agents import set_trace_processors
from agents.testing import ScriptedModel, assistant_message, function_call
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from backend.auth import mint_token
from backend.config import Settings, get_settings
from backend.deps import get_chat_model
from backend.logs import JsonFormatter
from backend.main import create_app
from backend.observability import agents_bridge, tracing
from mcp_server.server import build_app
from tests.support.processes import free_port, running, service_env
from tests.support.tokens import TEST_SECRET

TITLE = "Quokka groceries 7f3a"
MESSAGE = f"please add {TITLE.lower()} to my list"


class _Switchable(SpanExporter):
    """Exports while a test records; the provider outlives the test (it cannot be unset)."""

    def __init__(self) -> None:
        self.target: InMemorySpanExporter | None = None

    def export(self, spans: object) -> SpanExportResult:
        if self.target is not None:
            return self.target.export(spans)  # type: ignore[arg-type]
        return SpanExportResult.SUCCESS


_EXPORTER = _Switchable()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every finished span in the returned exporter."""
    tracing.setup_tracing("todo-agent-test", processor=SimpleSpanProcessor(_EXPORTER))
    tracing._State.enabled = True
    recorded = _EXPORTER.target = InMemorySpanExporter()
    yield recorded
    # Off again for the tests that follow: no spans, no SDK bridge, plain HTTP clients.
    _EXPORTER.target = None
    tracing._State.enabled = False
    agents_bridge._Installed.bridge = None
    set_trace_processors([])
    HTTPX2ClientInstrumentor().uninstrument()


@pytest.fixture
def mcp_url(spans: InMemorySpanExporter, sqlite_settings: Settings) -> Iterator[str]:
    """The MCP server's ASGI app on a free port, served from a thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(sqlite_settings), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the MCP server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def api(
    mcp_url: str, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("MCP_SERVER_URL", mcp_url)
    get_settings.cache_clear()
    # Its lifespan makes its database anew, with tracing on: its statements get spans.
    with TestClient(create_app(get_settings())) as client:
        yield client


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def test_one_trace_runs_from_the_chat_request_through_the_tool_to_its_sql(
    api: TestClient, spans: InMemorySpanExporter, sqlite_settings: Settings
) -> None:
    token = mint_token("alice", sqlite_settings)
    headers = {"Authorization": f"Bearer {token}"}
    model = ScriptedModel(
        [
            [function_call("add_task", {"title": TITLE}, call_id="call_add")],
            [assistant_message(f"Added '{TITLE}'.")],
        ]
    )
    api.app.dependency_overrides[get_chat_model] = lambda: model  # type: ignore[attr-defined]
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    request_log = logging.getLogger("backend.request")
    level = request_log.level
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    try:
        response = api.post("/api/alice/chat", json={"message": MESSAGE}, headers=headers)
    finally:
        request_log.removeHandler(handler)
        request_log.setLevel(level)
    assert response.status_code == 200, response.text
    model.assert_complete()

    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}
    [request] = [s for s in finished if s.name == "POST /api/{user_id}/chat"]
    trace_id = request.context.trace_id
    [turn] = [s for s in finished if s.name == "chat turn"]
    [tool] = [s for s in finished if s.name == "execute_tool add_task"]
    [server_call] = [s for s in finished if s.name == "tools/call add_task"]
    models = [s for s in finished if s.name == "chat ScriptedModel"]
    inserts = [
        s
        for s in finished
        if s.instrumentation_scope is not None
        and "sqlalchemy" in s.instrumentation_scope.name
        and str(s.attributes.get("db.statement", "")).startswith("INSERT INTO task")
    ]
    assert len(models) == 2 and len(inserts) == 1
    # One trace, and the SQL statement the tool ran descends from the request, the turn and
    # the agent's tool call, by way of the MCP server's span for that call.
    assert {s.context.trace_id for s in [turn, tool, server_call, *models, *inserts]} == {trace_id}
    chain = _ancestors(inserts[0], by_id)
    for span in (server_call, tool, turn, request):
        assert span in chain
    assert server_call.attributes["gen_ai.tool.name"] == "add_task"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert models[0].attributes["gen_ai.request.model"] == "ScriptedModel"
    assert turn.attributes["todo_agent.turn.outcome"] == "ok"

    # No user content in any attribute: not the message, not the title, not the token.
    secrets = (TITLE, TITLE.lower(), token)
    for span in finished:
        for key, value in (span.attributes or {}).items():
            assert not any(secret in str(value) for secret in secrets), (span.name, key, value)
        for event in span.events:
            for value in (event.attributes or {}).values():
                assert not any(secret in str(value) for secret in secrets), span.name

    # The request's log line names the trace it belongs to.
    [line] = [json.loads(text) for text in lines.getvalue().splitlines()]
    assert line["trace_id"] == format(trace_id, "032x")
    assert len(line["span_id"]) == 16


def test_tracing_stays_off_without_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.requested_exporters() == []
    assert tracing.requested_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ["otlp"]
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": "console,otlp"}) == [
        "console",
        "otlp",
    ]
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": ""}) == []
    disabled = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
    assert tracing.requested_exporters(disabled) == []


class _OtlpSink(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps (trace id, span name, attributes) of every span."""

    received: list[tuple[int, str, dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: str(a.value) for a in span.attributes}
                    trace_id = int.from_bytes(span.trace_id, "big")
                    _OtlpSink.received.append((trace_id, span.name, attributes))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def otlp_sink() -> Iterator[str]:
    _OtlpSink.received = []
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _OtlpSink)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sink.server_address[1]}"
    sink.shutdown()
    sink.server_close()


def test_the_mcp_server_process_continues_the_trace_over_otlp(
    spans: InMemorySpanExporter,
    otlp_sink: str,
    sqlite_settings: Settings,
    sqlite_url: str,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real `todo-agent mcp` process, configured by the OTEL_* variables alone."""
    env = service_env(
        sqlite_url,
        TEST_SECRET,
        tmp_path / "data",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink,
        OTEL_BSP_SCHEDULE_DELAY="50",  # export within moments, not every 5 s
    )
    with running("mcp", env, tmp_path) as mcp:
        monkeypatch.setenv("MCP_SERVER_URL", mcp.url)
        get_settings.cache_clear()
        with TestClient(create_app(get_settings())) as api:
            scripted = ScriptedModel(
                [
                    [function_call("add_task", {"title": TITLE}, call_id="call_add")],
                    [assistant_message("Added it.")],
                ]
            )
            api.app.dependency_overrides[get_chat_model] = lambda: scripted  # type: ignore[attr-defined]
            token = mint_token("alice", sqlite_settings)
            response = api.post(
                "/api/alice/chat",
                json={"message": MESSAGE},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        [turn] = [s for s in spans.get_finished_spans() if s.name == "chat turn"]
        trace_id = turn.context.trace_id

        def names_in_trace() -> set[str]:
            return {name for tid, name, _ in _OtlpSink.received if tid == trace_id}

        deadline = time.monotonic() + 30
        while "tools/call add_task" not in names_in_trace() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "tools/call add_task" in names_in_trace(), mcp.log()[-2000:]
    assert any(name.startswith("INSERT") for name in names_in_trace())  # the tool's SQL
    for _, name, attributes in _OtlpSink.received:
        assert not any(TITLE.lower() in value.lower() for value in attributes.values()), name


def test_the_named_exporters_are_built_and_unknown_ones_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    with caplog.at_level(logging.WARNING, logger="backend.observability.tracing"):
        processors = tracing._processors(["console", "otlp", "zipkin"])
    assert len(processors) == 2 and all(isinstance(p, BatchSpanProcessor) for p in processors)
    assert any(record.exporter == "zipkin" for record in caplog.records)  # type: ignore[attr-defined]
    for processor in processors:
        processor.shutdown()
