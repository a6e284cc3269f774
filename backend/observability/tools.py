"""The agent's side of each MCP tool call: outcome and duration, and the trace carried over.

`ObservedMCPServer` is the Agents SDK's streamable-HTTP MCP client, timing each `call_tool`.
Outcomes: `ok`; `error`, the tool answered with an error (unknown task, bad input); `failed`,
no answer (server down, timeout, a crash in the server). The call runs inside the OTel span of
the SDK's tool span, so the MCP SDK's request span and the `traceparent` it puts in the
request's `_meta` continue the turn's trace into the MCP server.
"""

from __future__ import annotations

import time
from typing import Any

from agents.mcp import MCPServerStreamableHttp
from mcp.types import CallToolResult
from mcp.types import Tool as MCPTool

from backend.observability import agents_bridge
from backend.observability.metrics import TOOL_CALLS, TOOL_DURATION, metrics_enabled

SIDE = "agent"


def record_tool_call(side: str, tool: str, outcome: str, seconds: float) -> None:
    if metrics_enabled():
        TOOL_CALLS.labels(side, tool, outcome).inc()
        TOOL_DURATION.labels(side, tool).observe(seconds)


class ObservedMCPServer(MCPServerStreamableHttp):
    async def list_tools(self, *args: Any, **kwargs: Any) -> list[MCPTool]:
        with agents_bridge.bridged_span():  # the MCP request nests under the SDK's list span
            return await super().list_tools(*args, **kwargs)

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        started = time.perf_counter()
        outcome = "failed"
        try:
            with agents_bridge.bridged_span():
                result = await super().call_tool(tool_name, arguments, meta)
            outcome = "error" if result.is_error else "ok"
            return result
        finally:
            record_tool_call(SIDE, tool_name, outcome, time.perf_counter() - started)
