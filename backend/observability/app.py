"""Wiring metrics and traces into the two ASGI apps (called by their factories, once each)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.applications import Starlette

from backend.config import Settings
from backend.observability import tracing
from backend.observability.http import HttpMetricsMiddleware
from backend.observability.metrics import metrics_endpoint, set_metrics_enabled

API_SERVICE = "todo-agent-api"
MCP_SERVICE = "todo-agent-mcp"


def _metrics(app: Starlette, settings: Settings) -> None:
    set_metrics_enabled(settings.metrics_enabled)
    if not settings.metrics_enabled:
        return
    if settings.metrics_port is None:  # else the CLI serves it on METRICS_PORT
        app.router.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.add_middleware(HttpMetricsMiddleware)


def observe_api(app: FastAPI, settings: Settings) -> None:
    if tracing.setup_tracing(API_SERVICE):
        from backend.observability.agents_bridge import install_bridge

        install_bridge(keep_openai_export=settings.tracing)
        tracing.instrument_fastapi(app)
    _metrics(app, settings)


def observe_mcp_app(app: Starlette, settings: Settings) -> None:
    if tracing.setup_tracing(MCP_SERVICE):
        tracing.instrument_starlette(app)
    _metrics(app, settings)
