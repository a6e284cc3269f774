"""Liveness and readiness."""

from __future__ import annotations

import httpx2
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.chat.model_check import model_configuration_problem
from backend.db import get_engine
from backend.deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _mcp_ok(url: str) -> bool:
    # Any HTTP answer (a 401 without a token included) proves the MCP server is up.
    try:
        async with httpx2.AsyncClient(timeout=2.0) as client:
            await client.get(url)
        return True
    except httpx2.HTTPError:
        return False


@router.get(
    "/ready",
    responses={503: {"description": "The database or the MCP server is down, or the model"}},
)
async def ready(settings: SettingsDep) -> JSONResponse:
    checks = {
        "database": "ok" if await run_in_threadpool(_database_ok) else "unavailable",
        "mcp_server": "ok" if await _mcp_ok(settings.mcp_server_url) else "unavailable",
        # What can be known without calling the provider (model_check.py).
        "model": model_configuration_problem(settings) or "ok",
    }
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )
