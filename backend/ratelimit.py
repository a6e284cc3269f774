"""Per-user chat rate limit: `CHAT_RATE_LIMIT` requests per user per minute (0 disables).

A sliding window: a request is allowed when the user made fewer than `limit` requests in the last
60 seconds; otherwise 429 with `Retry-After` = seconds until the oldest of those leaves the window.

- Without `REDIS_URL` the count lives in this process (each replica limits on its own).
- With `REDIS_URL` every replica shares one count in Redis (one atomic Lua script per request,
  timed by the Redis server's clock so replicas with skewed clocks agree). If Redis cannot be
  reached the limit fails open: requests go through, Redis is retried every few seconds and each
  failed attempt logs one warning, because a rate limiter must not take the chat down with it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.config import Settings

log = logging.getLogger("backend.ratelimit")

WINDOW_SECONDS = 60.0


class RateLimitExceeded(Exception):
    """The user is over the chat rate limit; `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many chat requests; try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until a request would be allowed, when not allowed


class RateLimiter(Protocol):
    async def hit(self, key: str) -> Decision:
        """Count one request for `key`, unless it is over the limit."""
        ...

    async def aclose(self) -> None:
        """Release what the limiter holds (the Redis connections); called on app shutdown."""
        ...


class MemoryRateLimiter:
    """Sliding-window log per key, in this process.

    Memory is bounded: at most `limit` timestamps per key, keys idle for a whole window are
    dropped, and beyond `max_keys` the least recently active key is forgotten (that user gets a
    fresh window, which errs on the side of letting people chat).
    """

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        # A plain lock: the critical section is a few list operations and never awaits, so it is
        # safe from both the event loop and worker threads.
        self._lock = threading.Lock()

    async def hit(self, key: str) -> Decision:
        return self.hit_now(key)

    def hit_now(self, key: str) -> Decision:
        now = self.clock()
        with self._lock:
            self._forget_idle(now)
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque(maxlen=self.limit)
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return Decision(False, hits[0] + self.window - now)
            hits.append(now)
            return Decision(True)

    def _forget_idle(self, now: float) -> None:
        # Keys are kept in order of last activity, so idle ones are at the front.
        while self._hits:
            oldest_key, hits = next(iter(self._hits.items()))
            idle = not hits or hits[-1] <= now - self.window
            if not idle and len(self._hits) < self.max_keys:
                break
            del self._hits[oldest_key]

    async def aclose(self) -> None:
        """Nothing to release: the counts live in this process."""

    def __len__(self) -> int:
        return len(self._hits)


# KEYS[1]: the user's sorted set of request times (ms). ARGV: window ms, limit, a unique member.
# Returns 0 when the request is allowed (and counted), else the milliseconds to wait.
_SLIDING_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisRateLimiter:
    """The same sliding window, shared by every process that uses the same Redis."""

    # After a failure, go straight to "allow" for this long instead of waiting on Redis again.
    RETRY_AFTER_FAILURE_SECONDS = 5.0

    def __init__(
        self,
        url: str,
        limit: int,
        window: float = WINDOW_SECONDS,
        prefix: str = "todo-agent:ratelimit:",
        timeout: float = 0.5,
    ) -> None:
        self.url, self.limit, self.window, self.prefix, self.timeout = (
            url,
            limit,
            window,
            prefix,
            timeout,
        )
        # Built with the app (in its lifespan), so its connections belong to the serving loop;
        # nothing connects until the first request.
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self._script = self._client.register_script(_SLIDING_WINDOW_LUA)
        self._down_until = 0.0

    async def hit(self, key: str) -> Decision:
        if time.monotonic() < self._down_until:
            return Decision(True)
        try:
            wait_ms = await self._script(
                keys=[self.prefix + key],
                args=[int(self.window * 1000), self.limit, uuid.uuid4().hex],
            )
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self.RETRY_AFTER_FAILURE_SECONDS
            log.warning(
                "rate limit store unreachable; allowing requests until it answers",
                extra={"error_type": type(exc).__name__},
            )
            return Decision(True)
        return Decision(True) if int(wait_ms) == 0 else Decision(False, int(wait_ms) / 1000)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_rate_limiter(settings: Settings, limit: int | None = None) -> RateLimiter:
    """A limiter (built once, in a lifespan) of `limit` requests per key per minute, by default
    the chat limit: shared through Redis, or in-process."""
    limit = settings.chat_rate_limit if limit is None else limit
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, limit, timeout=settings.redis_timeout_seconds)
    return MemoryRateLimiter(limit)


def retry_after_header(decision: Decision) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(decision.retry_after)))}
