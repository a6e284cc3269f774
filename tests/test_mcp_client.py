"""The API's MCP client (`backend.chat.mcp_client`) against a real `todo-agent mcp` process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema.validators
import pytest
from mcp import Client

from backend.chat.mcp_client import TaskServerClient
from backend.config import Settings
from tests.support.processes import ServiceProcess, mcp_on_sqlite
from tests.support.tokens import TEST_SECRET, token
from tests.support.users import random_user


@pytest.fixture(scope="module")
def mcp_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with mcp_on_sqlite(tmp_path_factory.mktemp("mcp-client")) as service:
        yield service


def _settings(service: ServiceProcess) -> Settings:
    return Settings(
        _env_file=None,
        better_auth_secret=TEST_SECRET,
        mcp_server_url=service.url,
        database_url="sqlite://",
    )


async def test_each_output_schema_is_compiled_once_per_process(
    mcp_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request has an `mcp` session of its own; the compiled validator is shared."""
    compiled: list[dict[str, Any]] = []
    validator_for = jsonschema.validators.validator_for

    def counting(schema: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(schema, dict) and "task_id" in schema.get("properties", {}):
            compiled.append(schema)  # the tool's schema (checking it looks up metaschemas too)
        return validator_for(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.validators, "validator_for", counting)
    clients, settings = TaskServerClient(), _settings(mcp_service)
    try:
        for user in (random_user(), random_user()):  # two turns, two callers
            async with clients.connect(token(user), settings) as server:
                for title in ("first", "second"):
                    result = await server.call_tool("add_task", {"title": title})
                    assert not result.is_error
                    assert result.structured_content is not None
                    assert result.structured_content["title"] == title
    finally:
        await clients.aclose()
    assert len(compiled) == 1
    # The shared validator is the tool's real one: it refuses a result that breaks the schema.
    schema = compiled[0]
    check = jsonschema.validators.validator_for(schema)(schema)
    assert check.is_valid({"task_id": 1, "status": "created", "title": "x"})
    assert not check.is_valid({"title": "no id"})


async def test_turns_take_the_tool_list_from_the_process_while_it_is_fresh(
    mcp_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No client per turn just to list the tools; a tool the server no longer knows (a deploy)
    makes the next turn fetch the list anew."""
    listings: list[str] = []
    list_tools = Client.list_tools

    async def counting(self: Client, **options: Any) -> Any:
        listings.append(options.get("cache_mode", "use"))
        return await list_tools(self, **options)

    monkeypatch.setattr(Client, "list_tools", counting)
    clients, settings = TaskServerClient(), _settings(mcp_service)
    try:
        for _ in range(3):
            async with clients.connect(token(random_user()), settings) as server:
                assert {tool.name for tool in await server.list_tools()} >= {"add_task"}
        assert listings == ["refresh"]  # fetched once, by the first turn
        async with clients.connect(token(random_user()), settings) as server:
            result = await server.call_tool("no_such_tool", {})
            assert result.is_error
        async with clients.connect(token(random_user()), settings) as server:
            assert {tool.name for tool in await server.list_tools()} >= {"add_task"}
    finally:
        await clients.aclose()
    # The call's client read the list from mcp's cache; the next turn fetched it again.
    assert listings == ["refresh", "use", "refresh"]
