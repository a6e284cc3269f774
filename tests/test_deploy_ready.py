"""/ready tells an orchestrator (and a person) whether the schema is the one this code needs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.config import get_settings
from backend.db import forget_default_database
from backend.main import create_app
from backend.migrate import upgrade
from tests.conftest import configure
from tests.databases import migrated_sqlite_from_the_future


def _ready(monkeypatch, tmp_path, url: str) -> tuple[int, dict]:
    settings = configure(monkeypatch, tmp_path, url)
    try:
        with TestClient(create_app(settings)) as client:
            response = client.get("/ready")
        return response.status_code, response.json()["checks"]
    finally:
        forget_default_database()
        get_settings.cache_clear()


def test_ready_reports_an_unmigrated_schema(monkeypatch, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    status, checks = _ready(monkeypatch, tmp_path, url)
    assert status == 503
    assert (checks["database"], checks["schema"]) == ("ok", "not migrated")


def test_ready_reports_a_current_schema(monkeypatch, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'todo.db'}"
    upgrade(url)
    _, checks = _ready(monkeypatch, tmp_path, url)
    assert (checks["database"], checks["schema"]) == ("ok", "current")


def test_ready_reports_a_schema_this_code_does_not_know(monkeypatch, tmp_path) -> None:
    url = migrated_sqlite_from_the_future(tmp_path)
    status, checks = _ready(monkeypatch, tmp_path, url)
    assert (status, checks["schema"]) == (503, "newer than this version")
