"""The MCP server's side of each tool call: `todo_agent_tool_calls_total{side="server"}`.

An MCP SDK middleware (it wraps every inbound message; only `tools/call` is counted). The tool
label is one of this server's tools, or `unknown` for a name a client made up, so a client
cannot mint series. Outcomes as on the agent's side: `ok`, `error` (the tool answered with an
error the model reads), `failed` (the call raised: a protocol error or a crash).
The MCP SDK itself traces each message (its `OpenTelemetryMiddleware`, on by default).
"""

from __future__ import annotations

import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult

from backend.observability.tools import record_tool_call

SIDE = "server"
UNKNOWN = "unknown"


def _is_error(result: HandlerResult) -> bool:
    if isinstance(result, CallToolResult):
        return bool(result.is_error)
    return isinstance(result, dict) and result.get("isError") is True


class ToolMetricsMiddleware:
    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self._tool_names: frozenset[str] | None = None

    async def tool_names(self) -> frozenset[str]:
        """The server's tools, listed once: all of them are declared before it serves."""
        if self._tool_names is None:
            self._tool_names = frozenset(tool.name for tool in await self.server.list_tools())
        return self._tool_names

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        name = ctx.params.get("name") if ctx.params else None
        tool = name if isinstance(name, str) and name in await self.tool_names() else UNKNOWN
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await call_next(ctx)
            outcome = "error" if _is_error(result) else "ok"
            return result
        finally:
            record_tool_call(SIDE, tool, outcome, time.perf_counter() - started)
