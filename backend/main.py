"""The FastAPI application and its composition root.

`create_app(settings)` is the one place where the app's long-lived objects are made: its lifespan
builds them from that `Settings` once, keeps them on `app.state` and closes them on shutdown.
Routes read them through the aliases in `backend.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend import __version__
from backend.api import chat, chat_cancel, chat_ws, conversations, health, tasks, web
from backend.api.errors import API_ERRORS, CHAT_ERRORS, install_error_handlers
from backend.chat.mcp_client import TaskServerClient
from backend.chat.providers import ModelProvider, configure_sdk
from backend.chat.running import RunningTurns
from backend.chat.sockets import SocketConnections
from backend.chatkit.router import router as chatkit_router
from backend.config import Settings, get_settings
from backend.db import open_database
from backend.environment import neutralise_empty_variables
from backend.heap import collector_set_for_serving
from backend.middleware import RequestContextMiddleware
from backend.observability.app import observe_api
from backend.ratelimit import build_rate_limiter
from backend.retry_after import RetryAfterOn503Middleware
from backend.shutdown import drain_turns

__all__ = ["create_app", "install_error_handlers", "lifespan"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the clients every request shares from `app.state.settings`; close them at the end.

    - the database (`app.state.database`): its engines and the bound on database work, in use
      by `session_scope()`, `get_session()` and `database_work()` while the app runs;
    - the chat rate limiter (with its Redis client when `REDIS_URL` is set);
    - the model provider, holding the one OpenAI client and its connection pool;
    - the MCP task-server client, holding the pool of keep-alive connections to it;
    - process-wide Agents SDK options (tracing), set once;

    and then sets the garbage collector for serving (`backend.heap`).

    On shutdown, running chat turns get `SHUTDOWN_GRACE_SECONDS` to finish (backend/shutdown.py);
    the database is disposed of last, after the turns that use it.
    """
    settings: Settings = app.state.settings
    configure_sdk(settings)
    with open_database(settings) as database:
        app.state.database = database
        app.state.rate_limiter = build_rate_limiter(settings)
        app.state.model_provider = ModelProvider(settings)
        app.state.task_servers = TaskServerClient()
        app.state.socket_connections = SocketConnections()  # WebSocket chat channels per user
        app.state.running_turns = RunningTurns()  # for a cancel request that lands here
        try:
            with collector_set_for_serving():  # what is built by now lives as long as the app
                yield
        finally:
            await drain_turns(settings.shutdown_grace_seconds)  # before the clients they use close
            await app.state.task_servers.aclose()
            await app.state.model_provider.aclose()
            await app.state.rate_limiter.aclose()
            if (api_limits := getattr(app.state, "api_limits", None)) is not None:
                await api_limits.rate.aclose()  # built on first use (backend/admission.py)


def create_app(settings: Settings | None = None) -> FastAPI:
    neutralise_empty_variables()  # "" means "not set", for the libraries too (environment.py)
    settings = settings or get_settings()
    # No Swagger UI / ReDoc in production: they load scripts from a CDN into the origin that
    # holds the users' tokens. The schema itself stays at /openapi.json.
    interactive_docs = settings.environment != "production"
    app = FastAPI(
        title="Todo agent",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if interactive_docs else None,
        redoc_url="/redoc" if interactive_docs else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(tasks.router, responses=API_ERRORS)
    app.include_router(chat.router, responses=CHAT_ERRORS)
    app.include_router(chat_ws.router)
    app.include_router(chat_cancel.router, responses=API_ERRORS)
    app.include_router(conversations.router, responses=API_ERRORS)
    app.include_router(chatkit_router)
    app.include_router(web.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        )
    app.add_middleware(RetryAfterOn503Middleware)  # every 503 says when to come back
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    observe_api(app, settings)  # /metrics, request metrics (outermost), traces when OTEL_* ask
    return app
