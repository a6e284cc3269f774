"""The agent's connection to the MCP task server, one per chat turn, as the caller.

The caller's own token goes in the headers, so the MCP server scopes every tool to them; the
headers are fixed per client instance, hence one instance per request. Opening the connection
must be cheap: the HTTP client reuses one SSL context built once per process (building one per
client cost ~26 ms of a ~30 ms connect, even for http:// URLs), and the per-request clients share
one pool of keep-alive TCP connections (`TaskServerClient`, one per app), so a turn opens no
new TCP connection.

Open and close the connection in the same asyncio task: the MCP client's anyio cancel scopes
fail when exited from another task (openai-agents-python issues #1393 and #2005).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx2
from agents import RunContextWrapper, UserError
from agents.mcp import MCPServerStreamableHttp
from agents.mcp.util import MCPToolCustomDataContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from backend.auth import AuthError, verify_token
from backend.config import Settings
from backend.observability.tools import ObservedMCPServer

log = logging.getLogger(__name__)

# Built once: certificate loading is the expensive part of creating an HTTP client.
_SSL_CONTEXT = ssl.create_default_context()

TOOL_FAILED = (
    "The task server could not run this tool (it may be unavailable), so the change may not "
    "have been made. Tell the user and suggest trying again."
)


class TaskServerError(Exception):
    """The MCP server cannot be used for this turn; the message is a plain reason for the caller."""


class TaskServerUnavailable(TaskServerError):
    """Unreachable, or it refuses credentials the API accepts (an operator problem)."""


class TaskServerAuthError(TaskServerError):
    """The caller's token expired between the API's check and the MCP server's."""


class _SharedPool(httpx2.AsyncBaseTransport):
    """One event loop's connection pool, lent to every per-request client.

    The MCP client closes its HTTP client when the turn ends; closing this does nothing, so the
    keep-alive connections stay for the next turn. Requests carry each client's own headers (the
    caller's token); only the TCP connections are shared.
    """

    def __init__(self) -> None:
        # No cap on connections: a per-request client never waited for one, neither does this.
        # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s), so
        # a request never goes out on a connection the server is closing at that moment.
        self._pool = httpx2.AsyncHTTPTransport(
            verify=_SSL_CONTEXT,
            limits=httpx2.Limits(
                max_connections=None, max_keepalive_connections=64, keepalive_expiry=2.0
            ),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Kept open for the next turn; `close()` closes it when the app shuts down."""

    async def close(self) -> None:
        await self._pool.aclose()


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
        # Still valid: the two services disagree about the secret or the key set, an operator
        # problem.
        try:
            verify_token(token, settings)
        except AuthError:
            return TaskServerAuthError("Token is no longer valid")
        log.error(
            "the MCP server refused a token the API accepts; do both use the same "
            "BETTER_AUTH_SECRET, JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE?"
        )
        return TaskServerUnavailable("The task server did not accept the credentials")
    log.warning("MCP server unavailable", extra={"error_type": type(error).__name__})
    return TaskServerUnavailable("The task server is unavailable")


class ToolCallWatcher(Protocol):
    """Told about each tool call before it is sent and after it returns (the turn's journal)."""

    async def before_call(self, tool: str, arguments: dict[str, Any]) -> int: ...

    async def after_call(self, index: int, result: CallToolResult | None) -> None: ...


class _WatchedServer(ObservedMCPServer):
    """The SDK's client with a watcher around `call_tool`, the one way the agent runs a tool."""

    watcher: ToolCallWatcher | None = None

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        if self.watcher is None:
            return await super().call_tool(tool_name, arguments, meta)
        try:
            index = await self.watcher.before_call(tool_name, dict(arguments or {}))
        except Exception as exc:
            # Not written down, not sent. A plain UserError: the SDK tells the model the tool
            # failed, and the database's error text (it may hold SQL) is logged nowhere.
            log.warning(
                "tool call not journaled; not sent", extra={"error_type": type(exc).__name__}
            )
            raise UserError("The tool call could not be recorded, so it was not sent") from None
        try:
            result = await super().call_tool(tool_name, arguments, meta)
        except BaseException:
            await self._after(index, None)
            raise
        await self._after(index, result)
        return result

    async def _after(self, index: int, result: CallToolResult | None) -> None:
        assert self.watcher is not None
        try:
            await self.watcher.after_call(index, result)
        except Exception as exc:  # the turn's final write records the result anyway
            log.warning("tool result not journaled", extra={"error_type": type(exc).__name__})


class TaskServerClient:
    """The app's way to the MCP task server: one connection per turn over one shared pool.

    Built in the app's lifespan (the pool belongs to the event loop serving requests), closed on
    shutdown. Where the server is comes with each connection (`settings.mcp_server_url`).
    """

    def __init__(self) -> None:
        self._pool = _SharedPool()

    def _http_client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=self._pool)

    @asynccontextmanager
    async def connect(
        self, token: str, settings: Settings, watcher: ToolCallWatcher | None = None
    ) -> AsyncIterator[MCPServerStreamableHttp]:
        """A connected MCP client acting as the token's user; raises TaskServerError if not.

        `watcher` hears of every tool call before it is sent: the turn's journal. Tool calls
        are counted and traced as well (`ObservedMCPServer`).
        """
        watched = _WatchedServer(
            params={
                "url": settings.mcp_server_url,
                "headers": {"Authorization": f"Bearer {token}"},
                "timeout": settings.mcp_timeout_seconds,
                "httpx_client_factory": self._http_client,
            },
            name="todo",
            cache_tools_list=True,
            client_session_timeout_seconds=settings.mcp_timeout_seconds,
            # Tools return structured content; the model gets that JSON, not a duplicate text copy.
            use_structured_content=True,
            custom_data_extractor=_tool_outcome,
            failure_error_function=_tool_failed,
        )
        watched.watcher = watcher
        server: MCPServerStreamableHttp = watched
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

    async def aclose(self) -> None:
        await self._pool.close()
