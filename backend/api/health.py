"""Liveness and readiness (what `/ready` checks: backend/readiness.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.deps import SettingsDep
from backend.readiness import ReadinessCache, is_ready

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        503: {"description": "The secret, the database, its schema or the MCP server is not usable"}
    },
)
async def ready(request: Request, settings: SettingsDep) -> JSONResponse:
    cache = getattr(request.app.state, "readiness", None)
    if cache is None:
        cache = request.app.state.readiness = ReadinessCache()
    checks = await cache.checks_for(settings)
    healthy = is_ready(checks)
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )
