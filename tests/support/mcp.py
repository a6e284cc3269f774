"""JSON-RPC over HTTP to a running `todo-agent mcp`, as a client that skips the handshake."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.processes import ServiceProcess

# The client's opening request of the MCP handshake.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def mcp_call(
    service: ServiceProcess, name: str, arguments: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return httpx.post(service.url, json=body, headers={**MCP_HEADERS, **headers}, timeout=10)
