"""The `todo_agent_*` Prometheus series, and how they are served.

Both processes (the API and the MCP server) define the same series; each fills the ones that
happen in it, and Prometheus tells them apart by job. Tool calls carry `side="agent"` (the API's
MCP client: what the agent waited for) or `side="server"` (the MCP server: the tool itself).

Several API workers (`todo-agent api --workers N`) share their counts through prometheus-client's
multiprocess mode: `PROMETHEUS_MULTIPROC_DIR` names a folder the workers write to (the CLI sets
one up when N > 1), and /metrics adds up every worker's values, whichever worker answers.

`METRICS_ENABLED=false` turns all of it off (no /metrics, nothing counted); `METRICS_PORT` serves
/metrics on a port of its own instead of the service's port, which users reach.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. A turn with a real model takes seconds; a tool call or a pool checkout, milliseconds.
TURN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
MODEL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
TOOL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CHECKOUT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30)

HTTP_REQUESTS = Counter(
    "todo_agent_http_requests_total",
    "HTTP requests by route template, method and status code",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "todo_agent_http_request_duration_seconds",
    "Time to answer an HTTP request (a stream: until its last byte)",
    ["route", "method"],
)
TURNS = Counter(
    "todo_agent_chat_turns_total",
    "Chat turns by outcome: ok, rejected, model_error, tool_error, timeout, store_error, error",
    ["outcome"],
)
TURN_DURATION = Histogram(
    "todo_agent_chat_turn_duration_seconds",
    "Time a chat turn ran: model calls, tool calls and storing the turn",
    buckets=TURN_BUCKETS,
)
TURNS_IN_FLIGHT = Gauge(
    "todo_agent_chat_turns_in_flight",
    "Chat turns running now",
    multiprocess_mode="livesum",
)
MODEL_REQUESTS = Counter(
    "todo_agent_model_requests_total",
    "Model calls (one turn makes one or more) by provider, model and outcome",
    ["provider", "model", "outcome"],
)
MODEL_DURATION = Histogram(
    "todo_agent_model_request_duration_seconds",
    "Time of one model call (a stream: until its last event)",
    ["provider", "model"],
    buckets=MODEL_BUCKETS,
)
MODEL_TOKENS = Counter(
    "todo_agent_model_tokens_total",
    "Tokens the model provider reported, by direction (input, output)",
    ["provider", "model", "direction"],
)
TOOL_CALLS = Counter(
    "todo_agent_tool_calls_total",
    "MCP tool calls by side (agent: the API's client; server: the MCP server), tool and outcome "
    "(ok, error: the tool reported an error; failed: no answer)",
    ["side", "tool", "outcome"],
)
TOOL_DURATION = Histogram(
    "todo_agent_tool_call_duration_seconds",
    "Time of one MCP tool call, as seen by the agent or inside the MCP server",
    ["side", "tool"],
    buckets=TOOL_BUCKETS,
)
RATE_LIMITED = Counter(
    "todo_agent_rate_limited_total",
    "Requests refused with 429, by the limit that refused them",
    ["surface"],
)
DB_POOL_IN_USE = Gauge(
    "todo_agent_db_pool_connections_in_use",
    "Database connections checked out of the pool now",
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "todo_agent_db_pool_overflow_connections",
    "Connections open beyond the pool size (PostgreSQL: max_overflow allows 20)",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKOUT = Histogram(
    "todo_agent_db_pool_checkout_seconds",
    "Time to get a connection from the pool (a wait when the pool is exhausted)",
    buckets=CHECKOUT_BUCKETS,
)
DB_POOL_TIMEOUTS = Counter(
    "todo_agent_db_pool_timeouts_total",
    "Checkouts that gave up because the pool stayed exhausted",
)


class _Switch:
    """Whether metrics are counted in this process (METRICS_ENABLED, read at start)."""

    enabled = True


def metrics_enabled() -> bool:
    return _Switch.enabled


def set_metrics_enabled(enabled: bool) -> None:
    _Switch.enabled = enabled


def registry() -> CollectorRegistry:
    """What /metrics shows: this process, or every worker's files in multiprocess mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def render() -> bytes:
    return generate_latest(registry())


async def metrics_endpoint(_: Request) -> Response:
    """GET /metrics: the Prometheus text format. No user auth: expose it to Prometheus only."""
    return Response(render(), media_type=CONTENT_TYPE_LATEST)


def start_metrics_server(host: str, port: int) -> None:
    """Serve /metrics on `port` from a thread of this process (the CLI calls it before uvicorn)."""
    start_http_server(port, addr=host, registry=registry())


def count_rate_limited(surface: str) -> None:
    if metrics_enabled():
        RATE_LIMITED.labels(surface).inc()
