"""The agent's connection to the MCP task server, one per chat turn, as the caller.

The caller's own token goes in the headers, so the MCP server scopes every tool to them; the
headers are fixed per client instance, hence one instance per request. Opening the connection
must be cheap: the HTTP client reuses one SSL context built once per process (building one per
client cost ~26 ms of a ~30 ms connect, even for http:// URLs).

Open and close the connection in the same asyncio task: the MCP client's anyio cancel scopes
fail when exited from another task (openai-agents-python issues #1393 and #2005).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from agents import RunContextWrapper
from agents.mcp import MCPServerStreamableHttp
from agents.mcp.util import MCPToolCustomDataContext
from mcp.shared.exceptions import MCPError

from backend.auth import AuthError, verify_token
from backend.config import Settings

log = logging.getLogger(__name__)

# Built once: certificate loading is the expensive part of creating an HTTP client.
_SSL_CONTEXT = ssl.create_default_context()

TOOL_FAILED = (
    "The task server could not run this tool (it may be unavailable), so the change may not "
    "have been made. Tell the user and suggest trying again."
)


class TaskServerError(Exception):
    """The MCP server cannot be used for this turn. `status` and `detail` are for the caller."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, verify=_SSL_CONTEXT)


def _tool_outcome(context: MCPToolCustomDataContext) -> Mapping[str, Any]:
    # Kept on the tool output item so the turn can report a tool error as {"error": ...}.
    return {"is_error": bool(context.is_error)}


def _tool_failed(_: RunContextWrapper[Any], error: Exception) -> str:
    # The SDK's exception text names the server URL; the model (and the user) get a plain reason.
    log.warning("MCP tool call failed", extra={"error_type": type(error).__name__})
    return TOOL_FAILED


def _rejected(error: BaseException) -> bool:
    """Did the server answer the connection with an error (as it does to a refused token)?

    With `mcp` 2.x a 401 on the initialize request surfaces as an ExceptionGroup holding an
    MCPError ("Server returned an error response"), with no status; with 1.x, as a UserError
    naming the HTTP status. An unreachable server is a UserError ("Could not reach the server").
    """
    if isinstance(error, BaseExceptionGroup):
        return error.subgroup(lambda exc: isinstance(exc, MCPError)) is not None
    text = str(error)
    return "HTTP error 401" in text or "HTTP error 403" in text


def _connect_error(error: BaseException, token: str, settings: Settings) -> TaskServerError:
    if _rejected(error):
        # The API accepted this token a moment ago. Expired since: the caller signs in again.
        # Still valid: the two services disagree about the secret, an operator problem.
        try:
            verify_token(token, settings)
        except AuthError:
            return TaskServerError(401, "Token is no longer valid")
        log.error(
            "the MCP server refused a token the API accepts; do both use the same "
            "BETTER_AUTH_SECRET (and JWT_ISSUER / JWT_AUDIENCE)?"
        )
        return TaskServerError(503, "The task server did not accept the credentials")
    log.warning("MCP server unavailable", extra={"error_type": type(error).__name__})
    return TaskServerError(503, "The task server is unavailable")


@asynccontextmanager
async def task_server(token: str, settings: Settings) -> AsyncIterator[MCPServerStreamableHttp]:
    """A connected MCP client acting as the token's user; raises TaskServerError if it can't."""
    server = MCPServerStreamableHttp(
        params={
            "url": settings.mcp_server_url,
            "headers": {"Authorization": f"Bearer {token}"},
            "timeout": settings.mcp_timeout_seconds,
            "httpx_client_factory": _http_client,
        },
        name="todo",
        cache_tools_list=True,
        client_session_timeout_seconds=settings.mcp_timeout_seconds,
        # Tools return structured content; the model gets that JSON, not a duplicate text copy.
        use_structured_content=True,
        custom_data_extractor=_tool_outcome,
        failure_error_function=_tool_failed,
    )
    try:
        await server.connect()
    except Exception as exc:  # UserError (unreachable, HTTP error) or an ExceptionGroup
        raise _connect_error(exc, token, settings) from None
    try:
        yield server
    finally:
        try:
            await server.cleanup()
        except Exception:
            log.warning("closing the MCP connection failed", exc_info=True)
