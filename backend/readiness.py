"""What `/ready` checks, and a short cache so that a flood of probes costs one check a second.

Ready means a request could succeed: the signing secret is usable, the database accepts writes
and has the current schema, and the MCP server answers. The database probe runs a write that
changes nothing (`UPDATE alembic_version SET version_num = version_num`) and rolls it back: a
read-only database (PostgreSQL in recovery or `default_transaction_read_only`, SQLite on a
read-only mount) fails it, where `SELECT 1` did not. The endpoint is unauthenticated, so every
caller shares one cached result, and concurrent probes wait for the same check instead of each
starting one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx2
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from backend.config import ConfigError, Settings, resolve_secret
from backend.db import get_engine

log = logging.getLogger("backend.readiness")

CACHE_SECONDS = 1.0
CHECK_TIMEOUT_SECONDS = 3.0
OK, UNAVAILABLE, CURRENT = "ok", "unavailable", "current"


def _secret_ok(settings: Settings) -> bool:
    try:
        return bool(resolve_secret(settings))
    except ConfigError as exc:
        log.error("signing secret unusable: %s", exc)
        return False


def _database_checks() -> tuple[str, str]:
    """(database, schema): writable, and at the schema this code expects."""
    from backend.migrate import schema_state

    try:
        with get_engine().connect() as connection:
            schema = schema_state(connection)
            if schema.current:  # a write that changes nothing (an unmigrated one has no table)
                connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            connection.rollback()
    except Exception as exc:
        log.warning("readiness: database check failed", extra={"error_type": type(exc).__name__})
        return UNAVAILABLE, "unknown"
    if not schema.current:
        log.warning("readiness: %s", schema.problem())
    return OK, schema.status


async def _mcp_ok(url: str) -> bool:
    # Any HTTP answer (a 401 without a token included) proves the MCP server is up.
    try:
        async with httpx2.AsyncClient(timeout=2.0) as client:
            await client.get(url)
        return True
    except httpx2.HTTPError:
        return False


async def _check(settings: Settings) -> dict[str, str]:
    database = asyncio.wait_for(run_in_threadpool(_database_checks), CHECK_TIMEOUT_SECONDS)
    try:
        (database_ok, schema), mcp_ok = await asyncio.gather(
            database, _mcp_ok(settings.mcp_server_url)
        )
    except TimeoutError:
        (database_ok, schema), mcp_ok = (
            (UNAVAILABLE, "unknown"),
            await _mcp_ok(settings.mcp_server_url),
        )
    return {
        "secret": OK if _secret_ok(settings) else UNAVAILABLE,
        "database": database_ok,
        "schema": schema,
        "mcp_server": OK if mcp_ok else UNAVAILABLE,
    }


def is_ready(checks: dict[str, str]) -> bool:
    return all(value in (OK, CURRENT) for value in checks.values())


@dataclass
class ReadinessCache:
    """The last result for `CACHE_SECONDS`; one check at a time however many callers wait."""

    checked_at: float = float("-inf")
    checks: dict[str, str] | None = None
    _running: asyncio.Task[dict[str, str]] | None = None

    async def checks_for(self, settings: Settings) -> dict[str, str]:
        if self.checks is not None and time.monotonic() - self.checked_at < CACHE_SECONDS:
            return self.checks
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(_check(settings))
        # shield: a caller that goes away does not cancel the check the others wait for
        checks = await asyncio.shield(self._running)
        self.checks, self.checked_at = checks, time.monotonic()
        return checks
