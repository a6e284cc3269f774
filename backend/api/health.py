"""Liveness and readiness."""

from __future__ import annotations

import httpx2
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backend.deps import SettingsDep
from backend.migrate import database_checks

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


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
    responses={503: {"description": "The database or the MCP server is down, or not migrated"}},
)
async def ready(settings: SettingsDep) -> JSONResponse:
    checks = {
        **await run_in_threadpool(database_checks),
        "mcp_server": "ok" if await _mcp_ok(settings.mcp_server_url) else "unavailable",
    }
    healthy = all(value in ("ok", "current") for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )
