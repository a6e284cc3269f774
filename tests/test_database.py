"""The database belongs to the server's settings: `create_app(settings)` and `build_server(settings)`
open the one those settings name, use it while they run and dispose of it when they stop.

The environment names another database throughout, as a test or an operator's shell might.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from mcp import Client

from backend.auth import Principal, mint_token
from backend.config import Settings
from backend.db import current_database
from backend.dbwork import database_work
from backend.main import create_app
from backend.migrate import upgrade
from mcp_server.auth import authenticated_as
from mcp_server.server import build_server


def _titles(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        titles = connection.execute(sa.text("SELECT title FROM task ORDER BY id")).scalars()
        found = list(titles)
    engine.dispose()
    return found


@pytest.fixture
def own_url(tmp_path: Path) -> str:
    """A migrated SQLite file that only the settings name, not the environment."""
    url = f"sqlite:///{tmp_path / 'own.db'}"
    upgrade(url)
    return url


def test_the_app_stores_in_the_database_of_its_settings_and_disposes_of_it(
    sqlite_settings: Settings, sqlite_url: str, own_url: str
) -> None:
    settings = Settings(database_url=own_url, db_queue_timeout_seconds=1.5)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {mint_token('ada', settings)}"}
    with TestClient(app) as client:
        response = client.post("/api/ada/tasks", json={"title": "Buy milk"}, headers=headers)
        assert response.status_code == 201, response.text
        assert [task["title"] for task in client.get("/api/ada/tasks", headers=headers).json()] == [
            "Buy milk"
        ]
        database = app.state.database
        assert current_database() is database
        assert database_work().queue_timeout == 1.5  # from the settings, not the environment
        pool = database.engine.pool
        assert pool.checkedin() >= 1  # the request's connection, kept for the next one
    assert _titles(own_url) == ["Buy milk"]
    assert _titles(sqlite_url) == []  # the environment's database
    assert pool.checkedin() == 0  # closed at shutdown
    assert current_database() is not database


async def test_the_mcp_server_stores_in_the_database_of_its_settings(
    sqlite_settings: Settings, sqlite_url: str, own_url: str
) -> None:
    principal = Principal(user_id="ada", token="in-process", expires_at=int(time.time()) + 3600)
    async with Client(build_server(Settings(database_url=own_url))) as client:
        with authenticated_as(principal):
            result = await client.call_tool("add_task", {"title": "Call mom"})
        assert not result.is_error, result.content
    assert _titles(own_url) == ["Call mom"]
    assert _titles(sqlite_url) == []
