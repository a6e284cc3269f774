"""Per-user chat rate limit: in memory, shared through Redis, and as a route dependency."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from backend.config import Settings
from backend.deps import enforce_chat_rate_limit
from backend.main import install_error_handlers, lifespan
from backend.ratelimit import MemoryRateLimiter, RedisRateLimiter, build_rate_limiter
from tests.conftest import override_settings
from tests.support.processes import free_port
from tests.support.users import random_user

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_available() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


needs_redis = pytest.mark.skipif(
    not redis_available(), reason="no Redis on 127.0.0.1:6379 (shared limit not tested)"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- in memory ------------------------------------------------------------------------------


def test_memory_limit_allows_the_limit_then_refuses() -> None:
    limiter = MemoryRateLimiter(limit=3, clock=FakeClock())
    decisions = [limiter.hit_now("alice") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]


def test_retry_after_is_when_the_oldest_request_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(limit=2, window=60, clock=clock)
    limiter.hit_now("alice")
    clock.now += 20
    limiter.hit_now("alice")
    clock.now += 10
    refused = limiter.hit_now("alice")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(30)
    clock.now += 30  # the first request leaves the window
    assert limiter.hit_now("alice").allowed
    assert not limiter.hit_now("alice").allowed  # the second is still inside it


def test_refused_requests_do_not_extend_the_wait() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(limit=1, window=60, clock=clock)
    limiter.hit_now("alice")
    for _ in range(5):
        clock.now += 10
        limiter.hit_now("alice")
    clock.now += 10
    assert limiter.hit_now("alice").allowed


def test_users_are_limited_independently() -> None:
    limiter = MemoryRateLimiter(limit=2, clock=FakeClock())
    for _ in range(2):
        assert limiter.hit_now("alice").allowed
    assert not limiter.hit_now("alice").allowed
    assert limiter.hit_now("bob").allowed


def test_memory_stays_bounded() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(limit=5, window=60, max_keys=100, clock=clock)
    for n in range(1000):
        limiter.hit_now(f"user-{n}")
    assert len(limiter) <= 100
    clock.now += 61  # everyone idle for a whole window
    limiter.hit_now("late")
    assert len(limiter) == 1


def test_memory_limiter_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    limiter = MemoryRateLimiter(limit=50)
    with ThreadPoolExecutor(16) as pool:
        decisions = list(pool.map(lambda _: limiter.hit_now("alice"), range(400)))
    assert sum(d.allowed for d in decisions) == 50


# --- Redis ----------------------------------------------------------------------------------


def failed_open(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The limiter's "unreachable" warnings: a decision that did not come from Redis. (Only
    these: the app's lifespan logs other records, e.g. the pool's, into the same capture.)"""
    return [
        r
        for r in caplog.records
        if r.name == "backend.ratelimit" and "unreachable" in r.getMessage()
    ]


# The production timeout (0.5 s) makes a slow Redis fail open, which on a loaded machine would
# let extra requests through; these tests are about the count, so Redis gets time to answer.
COUNTING_TIMEOUT = 30.0


@needs_redis
async def test_two_limiters_share_one_count_through_redis() -> None:
    # Two instances stand for two API replicas: the limit is per user, not per replica.
    prefix = f"test-{uuid.uuid4().hex}:"
    first = RedisRateLimiter(REDIS_URL, limit=4, prefix=prefix, timeout=COUNTING_TIMEOUT)
    second = RedisRateLimiter(REDIS_URL, limit=4, prefix=prefix, timeout=COUNTING_TIMEOUT)
    try:
        allowed = [(await limiter.hit("alice")).allowed for limiter in (first, second) * 3]
        assert allowed == [True, True, True, True, False, False]
        refused = await first.hit("alice")
        assert 0 < refused.retry_after <= 60
        assert (await second.hit("bob")).allowed
    finally:
        await first.aclose()
        await second.aclose()


@needs_redis
async def test_redis_counts_concurrent_requests_exactly(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter(
        REDIS_URL, limit=10, prefix=f"test-{uuid.uuid4().hex}:", timeout=COUNTING_TIMEOUT
    )
    try:
        with caplog.at_level(logging.WARNING, logger="backend.ratelimit"):
            decisions = await asyncio.gather(*(limiter.hit("alice") for _ in range(30)))
        assert not failed_open(caplog)  # every decision came from Redis
        assert sum(d.allowed for d in decisions) == 10
    finally:
        await limiter.aclose()


async def test_redis_down_fails_open_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", limit=1)
    with caplog.at_level(logging.WARNING, logger="backend.ratelimit"):
        decisions = [await limiter.hit("alice") for _ in range(5)]
    assert all(d.allowed for d in decisions)
    assert len(failed_open(caplog)) == 1  # not one per request: Redis is retried after a pause
    await limiter.aclose()


def test_redis_url_selects_the_shared_limiter() -> None:
    assert isinstance(build_rate_limiter(Settings(_env_file=None)), MemoryRateLimiter)
    shared = build_rate_limiter(Settings(_env_file=None, redis_url=REDIS_URL))
    assert isinstance(shared, RedisRateLimiter)
    assert shared.timeout == 0.5
    slower = build_rate_limiter(
        Settings(_env_file=None, redis_url=REDIS_URL, redis_timeout_seconds=7)
    )
    assert isinstance(slower, RedisRateLimiter) and slower.timeout == 7


# --- as a route dependency ------------------------------------------------------------------


def guarded_app(settings: Settings) -> FastAPI:
    """A route guarded like the chat routes, with the real authentication and app lifespan."""
    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)

    @app.post("/api/{user_id}/limited", dependencies=[Depends(enforce_chat_rate_limit)])
    def limited(user_id: str) -> dict[str, str]:
        return {"ok": user_id}

    return app


@pytest.fixture
def limited_app(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(guarded_app(sqlite_settings)) as client:
        yield client


@pytest.fixture
def auth_headers_sqlite(sqlite_settings: Settings):
    from backend.auth import mint_token

    return lambda user: {"Authorization": f"Bearer {mint_token(user, sqlite_settings)}"}


def set_limit(client: TestClient, limit: int) -> None:
    override_settings(client.app, chat_rate_limit=limit)  # type: ignore[arg-type]


def test_route_answers_429_with_retry_after(limited_app, auth_headers_sqlite, monkeypatch) -> None:
    set_limit(limited_app, 3)
    user = random_user()
    codes = [
        limited_app.post(f"/api/{user}/limited", headers=auth_headers_sqlite(user)).status_code
        for _ in range(3)
    ]
    refused = limited_app.post(f"/api/{user}/limited", headers=auth_headers_sqlite(user))
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "try again" in refused.json()["detail"]
    other = random_user()
    assert (
        limited_app.post(f"/api/{other}/limited", headers=auth_headers_sqlite(other)).status_code
        == 200
    )


def test_unauthenticated_requests_are_not_counted(
    limited_app, auth_headers_sqlite, monkeypatch
) -> None:
    set_limit(limited_app, 1)
    user = random_user()
    for _ in range(3):
        assert limited_app.post(f"/api/{user}/limited").status_code == 401
    assert (
        limited_app.post(f"/api/{user}/limited", headers=auth_headers_sqlite(user)).status_code
        == 200
    )


def test_zero_disables_the_limit(limited_app, auth_headers_sqlite, monkeypatch) -> None:
    set_limit(limited_app, 0)
    user = random_user()
    codes = {
        limited_app.post(f"/api/{user}/limited", headers=auth_headers_sqlite(user)).status_code
        for _ in range(30)
    }
    assert codes == {200}


@needs_redis
def test_route_limit_is_shared_through_redis(
    sqlite_settings, auth_headers_sqlite, monkeypatch, caplog
) -> None:
    # REDIS_TIMEOUT_SECONDS: time for Redis to answer on a loaded machine (COUNTING_TIMEOUT).
    shared = sqlite_settings.model_copy(
        update={
            "chat_rate_limit": 2,
            "redis_url": REDIS_URL,
            "redis_timeout_seconds": COUNTING_TIMEOUT,
        }
    )
    user = random_user() + uuid.uuid4().hex
    with TestClient(guarded_app(shared)) as one, TestClient(guarded_app(shared)) as two:
        with caplog.at_level(logging.WARNING, logger="backend.ratelimit"):
            codes = [
                c.post(f"/api/{user}/limited", headers=auth_headers_sqlite(user)).status_code
                for c in (one, two, one)
            ]
    assert not failed_open(caplog)  # every decision came from Redis
    assert codes == [200, 200, 429]
