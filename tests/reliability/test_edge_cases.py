"""The smaller findings of issue 16 (8), each on SQLite and PostgreSQL, in process with a real
MCP process: the token leeway, a lone surrogate, unusable token subjects, what `/ready` says and
what it costs, and a rate-limited retry that has a stored answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from backend.config import Settings, get_settings
from backend.db import forget_default_database, get_engine
from tests.support.tokens import bearer, token


@pytest.fixture
def app_factory(app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FastAPI]:
    """An app with the chat fixtures' settings changed by `updates` (Settings field names)."""
    from backend.main import create_app

    def make(**updates: object) -> FastAPI:
        # An app served without its lifespan (httpx's ASGITransport) uses the default database,
        # built from the environment.
        if "database_url" in updates:
            monkeypatch.setenv("DATABASE_URL", str(updates["database_url"]))
            get_settings.cache_clear()
            forget_default_database()
        return create_app(app_settings.model_copy(update=updates))

    return make


def test_a_token_in_its_leeway_is_accepted_by_the_api_and_the_task_server(
    client: TestClient,
) -> None:
    # Expired two seconds ago: within the five seconds of leeway. The MCP SDK used to refuse
    # it (no leeway of its own), so the API accepted the turn and then answered 503.
    late = {"Authorization": f"Bearer {token('late', ttl=-2)}"}
    answer = client.post("/api/late/chat", json={"message": "add buy milk"}, headers=late)
    assert answer.status_code == 200, answer.text
    assert [call["tool"] for call in answer.json()["tool_calls"]] == ["add_task"]
    assert "error" not in answer.json()["tool_calls"][0]["result"]
    long_gone = {"Authorization": f"Bearer {token('late', ttl=-30)}"}
    assert client.get("/api/late/tasks", headers=long_gone).status_code == 401


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/odd/chat", '{"message": "add \\ud800 milk"}'),
        ("/api/odd/chat/stream", '{"message": "\\udfff"}'),
        ("/api/odd/tasks", '{"title": "milk \\ud800"}'),
        ("/api/odd/tasks", '{"title": "milk", "description": "\\udc00"}'),
    ],
)
def test_a_lone_surrogate_is_invalid_input_not_a_crash(
    client: TestClient, path: str, body: str
) -> None:
    headers = {**bearer("odd"), "Content-Type": "application/json"}
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert client.get("/api/odd/tasks", headers=bearer("odd")).json() == []


@pytest.mark.parametrize("subject", ["a\x00b", "a/b", "..", ".", "back\\slash", "\ud800", "\x1b["])
def test_a_subject_that_cannot_be_a_user_id_is_refused_at_sign_in(
    client: TestClient, subject: str
) -> None:
    headers = {"Authorization": f"Bearer {token(subject)}"}
    for path in ("/api/x/tasks", "/api/a%00b/tasks", "/api/x/conversations"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"


def _ready(app: FastAPI) -> tuple[int, dict[str, str]]:
    with TestClient(app) as test_client:
        answer = test_client.get("/ready")
    return answer.status_code, answer.json()["checks"]


def test_ready_is_ok_when_everything_is(app_factory: Callable[..., FastAPI]) -> None:
    expected = {
        "secret": "ok",
        "database": "ok",
        "schema": "current",
        "mcp_server": "ok",
        "model": "ok",
    }
    assert _ready(app_factory()) == (200, expected)


def test_ready_says_unavailable_with_a_read_only_database(
    app_factory: Callable[..., FastAPI], database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        separator = "&" if "?" in database_url else "?"
        read_only = f"{database_url}{separator}options=-c%20default_transaction_read_only%3Don"
    app = app_factory(database_url=read_only)
    with TestClient(app) as test_client:
        # Reads still work on this database; only writes fail.
        assert test_client.get("/api/ro/tasks", headers=bearer("ro")).status_code == 200
    status, checks = _ready(app)
    assert status == 503 and checks["database"] == "unavailable", checks


def test_ready_says_unavailable_with_an_empty_secret_file(
    app_factory: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "empty-secret"
    data.mkdir(mode=0o700)
    (data / "secret").write_text("")
    (data / "secret").chmod(0o600)
    status, checks = _ready(app_factory(better_auth_secret=None, data_dir=data))
    assert status == 503 and checks["secret"] == "unavailable", checks


def test_a_flood_of_ready_probes_costs_one_check(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory()
    probes: list[str] = []

    def count(_conn, _cursor, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE alembic_version"):  # the write probe, once a check
            probes.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)

    async def flood() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = await asyncio.gather(*(http.get("/ready") for _ in range(100)))
        return [answer.status_code for answer in answers]

    try:
        statuses = asyncio.run(flood())
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert statuses == [200] * 100
    assert len(probes) == 1, probes  # one check for all hundred


def test_a_rate_limited_retry_gets_its_stored_answer(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(chat_rate_limit=1)
    key = uuid.uuid4().hex
    headers = {**bearer("retrier"), "Idempotency-Key": key}
    body = {"message": "add call mom"}
    with TestClient(app) as test_client:
        first = test_client.post("/api/retrier/chat", json=body, headers=headers)
        assert first.status_code == 200, first.text
        retried = test_client.post("/api/retrier/chat", json=body, headers=headers)
        assert retried.status_code == 200, retried.text
        assert retried.json() == first.json()
        # A new request (another key, or none) is still over the limit.
        other = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        assert test_client.post("/api/retrier/chat", json=body, headers=other).status_code == 429
        plain = test_client.post("/api/retrier/chat", json=body, headers=bearer("retrier"))
        assert plain.status_code == 429
        tasks = test_client.get("/api/retrier/tasks", headers=bearer("retrier")).json()
    assert [task["title"] for task in tasks] == ["Call mom"]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    yield
    get_settings.cache_clear()
    forget_default_database()


def test_production_serves_no_interactive_docs(app_factory: Callable[..., FastAPI]) -> None:
    # Swagger UI and ReDoc load scripts from a CDN into the origin that holds the tokens.
    app = app_factory(environment="production")
    with TestClient(app) as test_client:
        assert test_client.get("/docs").status_code == 404
        assert test_client.get("/redoc").status_code == 404
        assert test_client.get("/openapi.json").status_code == 200
    with TestClient(app_factory()) as test_client:
        assert test_client.get("/docs").status_code == 200
