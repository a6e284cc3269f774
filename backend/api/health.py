"""Liveness and readiness."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.config import get_settings
from backend.db import get_engine
from backend.migrate import schema_state

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _database_checks() -> dict[str, str]:
    """The database answers, and its schema is the one this code needs (`todo-agent migrate`)."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            return {"database": "ok", "schema": schema_state(connection).status}
    except Exception:
        return {"database": "unavailable", "schema": "unknown"}


async def _mcp_ok(url: str) -> bool:
    # Any HTTP answer (a 401 without a token included) proves the MCP server is up.
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            await client.get(url)
        return True
    except httpx.HTTPError:
        return False


@router.get(
    "/ready",
    responses={503: {"description": "The database or the MCP server is down, or not migrated"}},
)
async def ready() -> JSONResponse:
    checks = {
        **await run_in_threadpool(_database_checks),
        "mcp_server": "ok" if await _mcp_ok(get_settings().mcp_server_url) else "unavailable",
    }
    healthy = all(value in ("ok", "current") for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )
