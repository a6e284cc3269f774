"""Shared fixtures. Database tests run twice: on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.auth import mint_token
from backend.config import Settings, get_settings
from backend.db import forget_default_database
from backend.migrate import upgrade
from tests.databases import postgres_server_url, scratch_database, truncate_all
from tests.support.fake_openai import FakeOpenAI
from tests.support.processes import closed_mcp_url
from tests.support.tokens import TEST_SECRET

__all__ = ["TEST_SECRET"]  # still importable from here by modules not yet moved


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole session (emptied before each test)."""
    with postgres_server_url() as server, scratch_database(server) as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'todo.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("postgres_url")
    truncate_all(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """For tests whose subject does not depend on the database engine."""
    url = f"sqlite:///{tmp_path / 'todo.db'}"
    upgrade(url)
    return url


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path, url: str, **env: str) -> Settings:
    """The settings of an app on `url`, from a clean environment plus `env`; caches reset."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BETTER_AUTH_SECRET", TEST_SECRET)
    monkeypatch.setenv("TODO_AGENT_DATA_DIR", str(tmp_path / "data"))
    # Never the default port: a `todo-agent serve` may be running on this machine.
    monkeypatch.setenv("MCP_SERVER_URL", closed_mcp_url())
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "MODEL",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "REDIS_URL",
        "CORS_ORIGINS",
        "ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    forget_default_database()
    return get_settings()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path, database_url: str) -> Iterator[Settings]:
    """Settings pointing at the test database; the process-wide caches are reset around it."""
    yield configure(monkeypatch, tmp_path, database_url)
    forget_default_database()
    get_settings.cache_clear()


@pytest.fixture
def sqlite_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path, sqlite_url: str
) -> Iterator[Settings]:
    yield configure(monkeypatch, tmp_path, sqlite_url)
    forget_default_database()
    get_settings.cache_clear()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from backend.main import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def token_for(settings: Settings) -> Callable[[str], str]:
    return lambda user_id: mint_token(user_id, settings)


@pytest.fixture
def auth_headers(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    return lambda user_id: {"Authorization": f"Bearer {token_for(user_id)}"}


def override_settings(app: FastAPI, **changes: Any) -> Settings:
    """Reconfigure a running app, as a restart with other environment variables would.

    The routes read the settings (and the rate limiter built from them) through dependencies;
    this overrides both.
    """
    from backend.deps import current_settings, get_rate_limiter
    from backend.ratelimit import build_rate_limiter

    current = app.dependency_overrides.get(current_settings, lambda: app.state.settings)()
    changed = current.model_copy(update=changes)
    limiter = build_rate_limiter(changed)
    app.dependency_overrides[current_settings] = lambda: changed
    app.dependency_overrides[get_rate_limiter] = lambda: limiter
    return changed


@pytest.fixture(scope="module")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """One loopback fake OpenAI-compatible server per test module."""
    with FakeOpenAI.running() as fake:
        yield fake


@pytest.fixture
def fake(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """The module's fake server, its script, recorded requests and settings reset for this test."""
    fake_openai_server.reset_for_test()
    return fake_openai_server
