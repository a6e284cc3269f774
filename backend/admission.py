"""Admission of REST requests: a per-user rate limit and a per-user bound on requests in flight.

- `API_RATE_LIMIT` requests per user per minute over the REST routes (tasks, conversations),
  with the chat limit's machinery: a sliding window in this process, or shared by every replica
  through Redis when `REDIS_URL` is set. Over it: 429 with `Retry-After`.
- `USER_CONCURRENCY` requests of one user in flight at once in this process. A burst beyond it
  is answered 429 at once instead of queueing in front of everyone else's requests: one user
  cannot take every database slot (backend/dbwork.py bounds those for all users together).

Both run after authentication, so a request without a valid token costs nothing here.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException, Request, status

from backend.config import Settings
from backend.deps import CurrentUser, SettingsDep
from backend.ratelimit import RateLimiter, build_rate_limiter, retry_after_header

BUSY_RETRY_AFTER_SECONDS = 1


@dataclass
class InFlight:
    """How many requests each user has running; `enter` refuses beyond `limit`."""

    limit: int
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, user_id: str) -> bool:
        with self._lock:
            running = self._counts.get(user_id, 0)
            if running >= self.limit:
                return False
            self._counts[user_id] = running + 1
            return True

    def leave(self, user_id: str) -> None:
        with self._lock:
            running = self._counts.get(user_id, 0) - 1
            if running > 0:
                self._counts[user_id] = running
            else:
                self._counts.pop(user_id, None)  # idle users take no memory


@dataclass
class ApiLimits:
    rate: RateLimiter
    in_flight: InFlight
    config: tuple[object, ...]


def _limits(app: FastAPI, settings: Settings) -> ApiLimits:
    # One per application, rebuilt if the settings change (tests change them).
    config = (settings.api_rate_limit, settings.user_concurrency, settings.redis_url)
    current: ApiLimits | None = getattr(app.state, "api_limits", None)
    if current is None or current.config != config:
        current = app.state.api_limits = ApiLimits(
            build_rate_limiter(settings, settings.api_rate_limit),
            InFlight(settings.user_concurrency),
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
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail="Too many requests; see Retry-After",
                headers=retry_after_header(decision),
            )
    if not limits.in_flight.enter(user_id):
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many requests at once; wait for the earlier ones to finish",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    try:
        yield
    finally:
        limits.in_flight.leave(user_id)
