"""The chat fixtures: a real MCP server process per module and database, a scripted model.

Not a test module's import: the `conftest.py` of a folder whose tests chat (`tests/chat/`,
`tests/reliability/`) imports them, so every test in it gets the MCP server. Each fixture is
registered under its `name=`, so the `*_fixture` names never shadow test parameters.
Each database (SQLite, PostgreSQL) gets one MCP process per test module, started once; the
tables are emptied before every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from agents.testing import ScriptedModel
from fastapi.testclient import TestClient

from backend.config import Settings
from backend.deps import get_chat_model
from backend.migrate import upgrade
from tests.databases import TABLES, truncate_all
from tests.support.processes import ServiceProcess, running, service_env
from tests.support.tokens import TEST_SECRET


def empty_database(url: str) -> None:
    if not url.startswith("sqlite"):
        truncate_all(url)
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(sa.text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture(name="chat_database", scope="module", params=["sqlite", "postgresql"])
def chat_database_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('chat-db') / 'todo.db'}"
        upgrade(url)
        return url
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture(name="mcp_process", scope="module")
def mcp_process_fixture(
    chat_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The real `todo-agent mcp` on a free port, on the module's database."""
    folder = tmp_path_factory.mktemp("mcp")
    with running("mcp", service_env(chat_database, TEST_SECRET, folder / "data"), folder) as mcp:
        yield mcp


@pytest.fixture(name="database_url")
def database_url_fixture(chat_database: str) -> str:
    """Overrides conftest's: the module's database (the one the MCP process uses), emptied."""
    empty_database(chat_database)
    return chat_database


@pytest.fixture(name="settings")
def settings_fixture(settings: Settings, mcp_process: ServiceProcess) -> Settings:
    """Overrides conftest's: the API finds the tools at the MCP process."""
    return settings.model_copy(update={"mcp_server_url": mcp_process.url})


@pytest.fixture(name="model")
def model_fixture(client: TestClient) -> Iterator[ScriptedModel]:
    """A scripted model serving every turn of `client`'s app; all steps must be used."""
    scripted = ScriptedModel()
    client.app.dependency_overrides[get_chat_model] = lambda: scripted  # type: ignore[attr-defined]
    yield scripted
    scripted.assert_complete()


@pytest.fixture(name="headers")
def headers_fixture(auth_headers: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return auth_headers("alice")
