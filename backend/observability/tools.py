"""The agent's side of each MCP tool call: outcome and duration, and the trace carried over.

`backend.chat.mcp_client.TaskServer` times each `call_tool` with `record_tool_call`.
Outcomes: `ok`; `error`, the tool answered with an error (unknown task, bad input); `failed`, no
answer (server down, timeout, a crash in the server). The call runs inside the OTel span of
the SDK's tool span, so the MCP SDK's request span and the `traceparent` it puts in the
request's `_meta` continue the turn's trace into the MCP server.
"""

from __future__ import annotations

from backend.observability.metrics import TOOL_CALLS, TOOL_DURATION, metrics_enabled

SIDE = "agent"


def record_tool_call(side: str, tool: str, outcome: str, seconds: float) -> None:
    if metrics_enabled():
        TOOL_CALLS.labels(side, tool, outcome).inc()
        TOOL_DURATION.labels(side, tool).observe(seconds)
