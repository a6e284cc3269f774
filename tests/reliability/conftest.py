"""Fixtures for the reliability and security tests.

In-process tests get the chat fixtures of `tests/support/chat_fixtures.py`: every module runs on SQLite
and on PostgreSQL, with one real `todo-agent mcp` process per module and database, so the chat
routes run the default offline model against the real tools. The chat rate limit is off unless a
test turns it on (these tests send many chat requests on purpose).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings
from tests.reliability.figures import FIGURES
from tests.support.chat_fixtures import (  # noqa: F401  (importing a fixture registers it)
    chat_database_fixture,
    database_url_fixture,
    mcp_process_fixture,
    settings_fixture,
)


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    """The chat fixtures' settings, with the default offline model and no chat rate limit."""
    return settings.model_copy(update={"chat_rate_limit": 0})


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    from backend.main import create_app

    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")
