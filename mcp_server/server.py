"""The MCP server: the todo tools over streamable HTTP (`todo-agent mcp`) or stdio (`--stdio`).

HTTP is stateless (no MCP session lives in the process) and answers JSON, so any replica behind
a load balancer can serve any request. Every request needs `Authorization: Bearer <JWT>`,
verified by `backend.auth` exactly as the API does; the tools act for the token's subject only.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.auth import AuthError, verify_token
from backend.config import Settings, get_settings
from backend.db import Database, open_database
from backend.logs import configure_logging
from backend.observability.app import observe_mcp_app
from mcp_server.auth import JWTTokenVerifier, authenticated_as
from mcp_server.limits import PerUserRateLimit
from mcp_server.observability import ToolMetricsMiddleware
from mcp_server.token_hint import TokenHintOn401
from mcp_server.tools import add_tools, validation_message

logger = logging.getLogger(__name__)

SERVER_NAME = "todo"
MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "Tools for the signed-in user's todo list: add, list, complete, update and delete tasks. "
    "Tasks are identified by id; when the user names a task by its title, call list_tasks first "
    "to find its id."
)
TOKEN_ENV = "TODO_AGENT_TOKEN"


def _package_version() -> str:
    try:
        return version("todo-agent")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


# The SDK's own loopback defaults, plus the port-less spellings a reverse proxy may send.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
ANY = "*"


TOOLS_LIST_TTL_MS = 5 * 60 * 1000


class TodoMCPServer(MCPServer):
    """MCPServer whose argument-validation errors read like the tools' own ones.

    The SDK reports a call whose arguments break the input schema (a title over 200 characters,
    task_id 0, an unknown status) with pydantic's full text, which echoes the value and links to
    pydantic's docs. The model needs only the field and the rule.
    """

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
                message = f"Error executing tool {name}: {validation_message(cause)}"
                raise ToolError(message) from cause
            raise


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback always, plus MCP_ALLOWED_HOSTS / _ORIGINS.

    Without this a web page could point a DNS name at 127.0.0.1 and drive the server from a
    browser. Behind a proxy or in compose the Host header is a service name (`mcp:8001`), which
    must be listed. `MCP_ALLOWED_HOSTS=*` turns the check off, for a proxy that enforces it.
    """
    if ANY in settings.mcp_allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*LOOPBACK_HOSTS, *settings.mcp_allowed_hosts],
        allowed_origins=[*LOOPBACK_ORIGINS, *settings.mcp_allowed_origins],
    )


def database_lifespan(settings: Settings) -> Callable[[Any], AbstractAsyncContextManager[Database]]:
    """The server's lifespan: its database, built from `settings`, in use while it runs.

    The SDK enters it once per process over HTTP (the session manager's run), once per `run()`
    over stdio, and once per connection of an in-memory client.
    """

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[Database]:
        with open_database(settings) as database:
            yield database

    return lifespan


def build_server(settings: Settings | None = None) -> TodoMCPServer:
    settings = settings or get_settings()
    server = TodoMCPServer(
        SERVER_NAME,
        instructions=INSTRUCTIONS,
        version=_package_version(),
        # The tool list is the same for every caller and changes only with a deploy: clients
        # may keep it (the API does, per process), so a chat turn sends only its tools/call.
        cache_hints={"tools/list": CacheHint(ttl_ms=TOOLS_LIST_TTL_MS, scope="public")},
        token_verifier=JWTTokenVerifier(settings),
        # The SDK wants an issuer URL to enable bearer auth. It is published only with
        # `resource_server_url` (OAuth protected-resource metadata), which we leave unset:
        # tokens come from the Better Auth frontend, not from an OAuth flow this server runs.
        auth=AuthSettings(issuer_url=AnyHttpUrl("http://127.0.0.1"), resource_server_url=None),
        lifespan=database_lifespan(settings),
    )
    add_tools(server)
    server.middleware.append(ToolMetricsMiddleware(server))  # tool calls in /metrics

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    server.custom_route("/health", methods=["GET"])(health)  # an unannotated decorator in the SDK

    async def ready(_: Request) -> JSONResponse:
        # For a load balancer or Kubernetes: the tools need the database, at this code's schema.
        from fastapi.concurrency import run_in_threadpool

        from backend.migrate import database_checks

        checks = await run_in_threadpool(database_checks)
        healthy = checks == {"database": "ok", "schema": "current"}
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )

    server.custom_route("/ready", methods=["GET"])(ready)

    return server


def build_app(settings: Settings | None = None) -> Starlette:
    """The ASGI app: POST /mcp (bearer token required), GET /health and /ready."""
    settings = settings or get_settings()
    app = build_server(settings).streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
    )
    app.add_middleware(TokenHintOn401)  # a 401 that names `todo-agent token`
    app.add_middleware(PerUserRateLimit, settings=settings)
    observe_mcp_app(app, settings)  # GET /metrics, request metrics, traces when OTEL_* ask
    return app


def run_http(host: str, port: int) -> int:
    import uvicorn

    from backend.serving import uvicorn_options

    settings = get_settings()
    app = build_app(settings)
    configure_logging(settings.log_level)  # after the SDK's own logging set-up, to replace it
    logger.info("MCP server listening", extra={"url": f"http://{host}:{port}{MCP_PATH}"})
    uvicorn.run(
        app,
        host=host,
        port=port,
        **uvicorn_options(settings),
    )
    return 0


def run_stdio() -> int:
    """Serve the tools over stdin/stdout for desktop clients, as the user of TODO_AGENT_TOKEN."""
    settings = get_settings()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(
            f"{TOKEN_ENV} is not set. Create a token with `todo-agent token USER_ID --ttl SECONDS` "
            f"and pass it as {TOKEN_ENV}.",
            file=sys.stderr,
        )
        return 2
    try:
        principal = verify_token(token, settings)
    except AuthError as exc:
        print(f"{TOKEN_ENV} is not accepted: {exc}.", file=sys.stderr)
        return 2
    server = build_server(settings)
    configure_logging(settings.log_level)  # stderr: stdout carries the protocol
    logger.info("MCP server on stdio", extra={"user_id": principal.user_id})
    with authenticated_as(principal):
        server.run("stdio")
    return 0
