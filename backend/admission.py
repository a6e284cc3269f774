"""Admission of REST requests: a per-user rate limit and a per-user bound on requests in flight.

- `API_RATE_LIMIT` requests per user per minute over the REST routes (tasks, conversations),
  with the chat limit's machinery: a sliding window in this process, or shared by every replica
  through Redis when `REDIS_URL` is set. Over it: 429 with `Retry-After`.
- `USER_CONCURRENCY` requests of one user in flight at once in this process; more wait up to
  two seconds for one of them to finish, then get 429 with `Retry-After`. One user's burst
  never takes every database slot (backend/dbwork.py bounds those for all users together), so
  the others are served meanwhile.

Both run after authentication, so a request without a valid token costs nothing here.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI, HTTPException, Request, status

from backend.config import Settings
from backend.deps import CurrentUser, SettingsDep
from backend.observability.metrics import count_rate_limited
from backend.ratelimit import RateLimiter, build_rate_limiter, retry_after_header

BUSY_RETRY_AFTER_SECONDS = 1
USER_WAIT_SECONDS = 2.0


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0  # requests holding or waiting for a slot; the gate goes when it is 0


class UserSlots:
    """At most `limit` requests per user at once; more wait up to `wait` seconds, then refused.

    A short wait smooths a frontend's burst (most of it is served a moment later) without
    letting one user queue unbounded work: waiting requests hold no database slot. Per event
    loop (asyncio primitives belong to one), and idle users take no memory.
    """

    def __init__(self, limit: int, wait: float = USER_WAIT_SECONDS) -> None:
        self.limit, self.wait = limit, wait
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Gate]] = (
            weakref.WeakKeyDictionary()
        )

    def _table(self) -> dict[str, _Gate]:
        return self._gates.setdefault(asyncio.get_running_loop(), {})

    async def enter(self, user_id: str) -> bool:
        table = self._table()
        gate = table.get(user_id)
        if gate is None:
            gate = table[user_id] = _Gate(asyncio.Semaphore(self.limit))
        gate.users += 1
        try:
            await asyncio.wait_for(gate.semaphore.acquire(), self.wait)
        except TimeoutError:
            self._drop(table, user_id, gate)
            return False
        except BaseException:
            self._drop(table, user_id, gate)
            raise
        return True

    def leave(self, user_id: str) -> None:
        table = self._table()
        gate = table[user_id]
        gate.semaphore.release()
        self._drop(table, user_id, gate)

    @staticmethod
    def _drop(table: dict[str, _Gate], user_id: str, gate: _Gate) -> None:
        gate.users -= 1
        if gate.users == 0:
            del table[user_id]


@dataclass
class ApiLimits:
    rate: RateLimiter
    in_flight: UserSlots
    config: tuple[object, ...]


def _limits(app: FastAPI, settings: Settings) -> ApiLimits:
    # One per application, rebuilt if the settings change (tests change them).
    config = (
        settings.api_rate_limit,
        settings.user_concurrency,
        settings.redis_url,
        settings.redis_timeout_seconds,
    )
    current: ApiLimits | None = getattr(app.state, "api_limits", None)
    if current is None or current.config != config:
        current = app.state.api_limits = ApiLimits(
            build_rate_limiter(settings, settings.api_rate_limit),
            UserSlots(settings.user_concurrency),
            config,
        )
    return current


async def admit_api_request(
    request: Request, user_id: CurrentUser, settings: SettingsDep
) -> AsyncIterator[None]:
    """Router dependency: 429 with Retry-After over the rate or the in-flight limit."""
    limits = _limits(request.app, settings)
    if settings.api_rate_limit > 0:
        decision = await limits.rate.hit(f"api:{user_id}")
        if not decision.allowed:
            count_rate_limited("api")
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail="Too many requests; see Retry-After",
                headers=retry_after_header(decision),
            )
    if not await limits.in_flight.enter(user_id):
        count_rate_limited("concurrency")
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many requests at once; try again when the earlier ones are answered",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    try:
        yield
    finally:
        limits.in_flight.leave(user_id)
