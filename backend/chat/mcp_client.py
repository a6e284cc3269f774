"""The agent's connection to the MCP task server, as the caller, at one HTTP request per tool call.

The MCP server is stateless (`stateless_http=True, json_response=True`) and speaks the
2026-07-28 protocol revision, which needs no handshake: a `tools/call` carrying the
`MCP-Protocol-Version` header is answered on its own. So a turn sends exactly one request per
tool call and nothing else:

- the protocol version is pinned (`PROTOCOL_VERSION`): no `server/discover` probe and no
  `initialize` / `notifications/initialized` round trips;
- the tool list is fetched once per process and kept for as long as the server's freshness hint
  says (`ttlMs`, scope "public": the same list for every caller; `mcp_server.server`): a turn
  takes it from the process (`TaskServerClient.tools`, no client at all), and each call's client
  from `mcp`'s response cache (one store per `TaskServerClient`), which gives it the tools'
  output schemas; it is fetched again early after a call names a tool the server no longer
  knows (a deploy changed it);
- every turn gets its own `TaskServer` (the Agents SDK's public `MCPServer` interface over the
  official `mcp.Client`), whose HTTP client carries the caller's own token, so the MCP server
  scopes every tool to them; the HTTP clients share one pool of keep-alive TCP connections and
  one SSL context per process (building one per client cost ~26 ms of a ~30 ms connect);
- a turn checks that the server accepts TCP connections before the model runs (no HTTP request),
  so a stopped task server is a 503 before any model call is spent, as before.

The SDK's `MCPServerStreamableHttp` cannot do this: it hard-codes `mode="auto"` (a discover probe
per connection) and `cache=None` (agents/mcp/_compat.py, openai-agents 0.24).

Each request runs its `mcp.Client` in a task of its own, entered and exited there: the MCP
client's anyio cancel scopes fail when exited from another task (openai-agents-python issues
#1393 and #2005), and a transport failure must not cancel the turn (`TaskServer`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar, cast

import httpx2
from agents import AgentBase, RunContextWrapper, UserError
from agents.mcp import MCPServer
from agents.mcp.util import MCPToolCustomDataContext
from mcp import Client, ClientSession
from mcp.client.caching import CacheConfig, InMemoryResponseCacheStore
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CallToolResult,
    GetPromptResult,
    ListPromptsResult,
    ListToolsResult,
    RequestParamsMeta,
    Tool,
)

from backend.auth import AuthError, verify_token
from backend.chat.tool_errors import TOOL_FAILED, failure_message
from backend.config import Settings
from backend.observability import agents_bridge
from backend.observability.tools import SIDE, record_tool_call

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Built once: certificate loading is the expensive part of creating an HTTP client.
_SSL_CONTEXT = ssl.create_default_context()


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
    # The SDK's exception text names the server URL; the model (and the user) get a plain reason:
    # its own mistake (arguments that are not JSON) or the task server failing.
    message = failure_message(error)
    if message == TOOL_FAILED:
        log.warning("MCP tool call failed", extra={"error_type": type(error).__name__})
    return message


def _rejected(error: BaseException) -> bool:
    """Did the server answer with an error (as it does to a refused token)?

    With `mcp` 2.x a 401 surfaces as an MCPError ("Server returned an error response"), with no
    status, possibly inside an ExceptionGroup; an unreachable server is an OSError from the
    reachability check.
    """
    if isinstance(error, BaseExceptionGroup):
        return error.subgroup(lambda exc: isinstance(exc, MCPError)) is not None
    return isinstance(error, MCPError)


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


# The protocol revision our MCP server speaks (mcp 2.x): pinned, so no connection negotiates it.
PROTOCOL_VERSION = "2026-07-28"


def _unknown_tool(result: CallToolResult) -> bool:
    """The server's answer to a tool it does not have (mcp 2.x: an error result naming it)."""
    if not result.is_error:
        return False
    text = " ".join(getattr(block, "text", "") for block in result.content)
    return "unknown tool" in text.lower()


class _OutputValidators:
    """Each tool's compiled output-schema validator, shared by every client of the process.

    `mcp` compiles a tool's validator (checking the schema against its metaschema, the larger
    part of a `call_tool`'s CPU) once per session, and every request here has a session of its
    own. A validator is kept with the schema it was built from; a changed schema (a deploy)
    builds a new one. Validators hold no state between validations, so sessions can share them.
    """

    def __init__(self) -> None:
        self._by_tool: dict[str, tuple[str, Any]] = {}  # tool: (its schema's JSON, validator)

    def lend(self, session: ClientSession, tool: str) -> None:
        """Give `session` the validator for `tool`'s listed output schema, built at most once."""
        # `mcp` 2.x keeps the listed schemas and their validators on the session; the locked
        # version is what tests/test_mcp_client.py checks this against.
        schema = session._tool_output_schemas.get(tool)
        if schema is None:
            return  # not listed, or no output schema: nothing to validate against
        key = json.dumps(schema, sort_keys=True)
        held = self._by_tool.get(tool)
        if held is None or held[0] != key:
            try:
                held = (key, session._output_schema_validator(tool, schema))
            except RuntimeError:
                return  # an invalid schema: the session's own check reports it, as before
            self._by_tool[tool] = held
        session._tool_output_validators[tool] = held[1]


class TaskServer(MCPServer):
    """One turn's MCP server for the Agents SDK: the caller's token, the process's pool and cache.

    `connect()` sends nothing over HTTP once the tool list is cached (version pinned); each
    `call_tool` is one `tools/call` request. Each of them runs an `mcp.Client` of its own in a
    task of its own: a transport failure (the server killed mid-call) fails the client's task
    group, whose cancel scope would otherwise cancel the turn's task itself; in a task of its
    own it is just this call's exception, which the SDK turns into a failed tool call. A client
    costs no round trip (no handshake), only ~0.5 ms of CPU.
    """

    def __init__(self, owner: TaskServerClient, token: str, settings: Settings) -> None:
        super().__init__(
            # Tools return structured content; the model gets that JSON, not a duplicate text copy.
            use_structured_content=True,
            custom_data_extractor=_tool_outcome,
            failure_error_function=_tool_failed,
        )
        self._owner, self._token, self._settings = owner, token, settings
        self._tools: list[Tool] | None = None

    @property
    def name(self) -> str:
        return "todo"

    async def _isolated(self, work: Callable[[Client], Awaitable[_T]]) -> _T:
        """Run `work` with a fresh client, in a task of its own (see the class docstring)."""
        settings = self._settings

        async def run() -> _T:
            http = self._owner.http_client(
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=httpx2.Timeout(settings.mcp_timeout_seconds),
            )
            try:
                client = Client(
                    # A stateless server has no session to end: no DELETE on close.
                    streamable_http_client(
                        settings.mcp_server_url, http_client=http, terminate_on_close=False
                    ),
                    mode=PROTOCOL_VERSION,
                    read_timeout_seconds=settings.mcp_timeout_seconds,
                    cache=self._owner.cache_config(settings.mcp_server_url, self._token),
                )
                async with client:
                    return await work(client)
            finally:
                await http.aclose()

        # Awaiting the task passes a cancellation of the turn on to it.
        return await asyncio.get_running_loop().create_task(run())

    async def connect(self) -> None:
        url = self._settings.mcp_server_url
        await self._owner.check_reachable(url, self._settings.mcp_timeout_seconds)
        tools = self._owner.tools(url)
        if tools is None:
            # Fetched, never served from mcp's cache: its freshness runs from this request.
            sent = time.monotonic()
            with agents_bridge.bridged_span():  # a listing request nests under the SDK's span
                listing = await self._isolated(
                    lambda client: client.list_tools(cache_mode="refresh")
                )
            tools = self._owner.keep_tools(url, listing, sent)
        self._tools = list(tools)

    async def cleanup(self) -> None:
        """Nothing stays open between calls."""

    async def list_tools(
        self,
        run_context: RunContextWrapper[Any] | None = None,
        agent: AgentBase[Any] | None = None,
    ) -> list[Tool]:
        if self._tools is None:
            raise RuntimeError("TaskServer.connect() was not called")
        return list(self._tools)

    @property
    def cached_tools(self) -> list[Tool] | None:
        return self._tools

    async def call_tool(
        self,
        tool_name: str,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any] | None = None,
    ) -> CallToolResult:
        # `_meta` from the SDK's tool_meta_resolver (none is configured) is the wire's open mapping.
        wire_meta = cast("RequestParamsMeta | None", meta)

        async def call(client: Client) -> CallToolResult:
            # From the cache: gives this client the tools' output schemas, so that it checks
            # the result without listing again, with the process's compiled validator.
            await client.list_tools()
            self._owner.validators.lend(client.session, tool_name)
            return await client.call_tool(tool_name, arguments, meta=wire_meta)

        started, outcome = time.perf_counter(), "failed"
        try:
            # Inside the OTel span of the SDK's tool span: the MCP request's `traceparent`
            # continues the turn's trace into the MCP server.
            with agents_bridge.bridged_span():
                result = await self._isolated(call)
            outcome = "error" if result.is_error else "ok"
        finally:
            record_tool_call(SIDE, tool_name, outcome, time.perf_counter() - started)
        if _unknown_tool(result):  # the server changed under the cached list: fetch it anew
            self._owner.refresh_tools(self._settings.mcp_server_url)
        return result

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> GetPromptResult:
        raise LookupError(f"the task server has no prompt {name!r}")


class ToolCallWatcher(Protocol):
    """Told about each tool call before it is sent and after it returns (the turn's journal)."""

    async def before_call(self, tool: str, arguments: dict[str, Any]) -> int: ...

    async def after_call(self, index: int, result: CallToolResult | None) -> None: ...


class _WatchedServer(TaskServer):
    """A turn's task server with a watcher around `call_tool`, the one way the agent runs a tool."""

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
    """The app's way to the MCP task server: per process one pool, one tool-list cache.

    Built in the app's lifespan (the pool belongs to the event loop serving requests), closed on
    shutdown. Where the server is comes with each connection (`settings.mcp_server_url`).
    """

    def __init__(self) -> None:
        self._pool = _SharedPool()
        self._cache_store = InMemoryResponseCacheStore(max_entries=64)
        self.validators = _OutputValidators()
        self._tools: dict[str, tuple[list[Tool], float]] = {}  # URL: (tools, fresh until)

    def http_client(
        self, headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, transport=self._pool)

    def cache_config(self, url: str, token: str) -> CacheConfig:
        # Entries the server marks "private" stay with the credential that fetched them; the
        # tool list is "public" and serves every caller (`share_public`). Results without a
        # hint are not kept (`default_ttl_ms=0`); tools/call results never are.
        return CacheConfig(
            store=self._cache_store,
            partition=hashlib.sha256(token.encode()).hexdigest(),
            target_id=url,
            share_public=True,
        )

    def tools(self, url: str) -> list[Tool] | None:
        """The server's tool list while it is fresh, else None (to be fetched)."""
        kept = self._tools.get(url)
        if kept is None or time.monotonic() >= kept[1]:
            return None
        return kept[0]

    def keep_tools(self, url: str, listing: ListToolsResult, sent: float) -> list[Tool]:
        """Keep a fetched listing for every caller, as long as the server's hint allows.

        Only a complete listing the server marks "public" with a freshness (ours: five
        minutes) is kept; any other is fetched by each turn. Its tools are never changed
        after this: turns share them (the SDK copies a schema before it rewrites one).
        """
        tools = list(listing.tools)
        if "ttl_ms" in listing.model_fields_set and listing.cache_scope == "public":
            if listing.next_cursor is None:
                self._tools[url] = (tools, sent + listing.ttl_ms / 1000)
        return tools

    def refresh_tools(self, url: str) -> None:
        self._tools.pop(url, None)

    async def check_reachable(self, url: str, seconds: float) -> None:
        """Raise OSError if the server accepts no TCP connection (stopped, wrong address).

        The tool list is cached, so a turn would otherwise find a stopped server only when the
        model calls a tool: after a model call spent and with a half-done turn to store. A TCP
        connect costs ~0.1 ms and no HTTP request; a server that accepts but does not answer is
        caught by the tool call's timeout.
        """
        address = httpx2.URL(url)
        port = address.port or (443 if address.scheme == "https" else 80)
        async with asyncio.timeout(seconds):
            _, writer = await asyncio.open_connection(address.host, port)
        writer.close()

    @asynccontextmanager
    async def connect(
        self, token: str, settings: Settings, watcher: ToolCallWatcher | None = None
    ) -> AsyncIterator[TaskServer]:
        """A connected MCP server acting as the token's user; raises TaskServerError if not.

        `watcher` hears of every tool call before it is sent: the turn's journal.
        """
        server = _WatchedServer(self, token, settings)
        server.watcher = watcher
        try:
            await server.connect()
        except Exception as exc:  # OSError / TimeoutError (unreachable), MCPError (refused)
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
