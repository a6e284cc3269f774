"""The MCP tools through the SDK's in-memory client, on SQLite and PostgreSQL.

In-process calls skip the HTTP bearer middleware, so every call runs inside
`authenticated_as(...)`, which sets the context variable the middleware sets. It is set per
call, not per client: the in-memory client runs the server's handler in the calling task.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client

from backend.auth import Principal
from backend.config import Settings
from mcp_server.auth import authenticated_as
from mcp_server.server import build_server

TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}


class UserClient:
    """An in-memory client whose every request is made as one user."""

    def __init__(self, client: Client, principal: Principal) -> None:
        self.client, self.principal = client, principal

    async def list_tools(self) -> Any:
        with authenticated_as(self.principal):
            return await self.client.list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        with authenticated_as(self.principal):
            return await self.client.call_tool(name, arguments)


@asynccontextmanager
async def client_as(
    user_id: str, settings: Settings, expires_at: int | None = None
) -> AsyncIterator[UserClient]:
    principal = Principal(
        user_id=user_id, token="in-process", expires_at=expires_at or int(time.time()) + 3600
    )
    async with Client(build_server(settings)) as client:
        yield UserClient(client, principal)


async def call(client: UserClient, tool: str, **arguments: Any) -> dict[str, Any]:
    """A call that must succeed; its structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error_text(client: UserClient, tool: str, **arguments: Any) -> str:
    """A call that must come back as a tool error; the message the model reads."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def test_tools_are_listed_with_schemas_annotations_and_no_user_id(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert "user_id" not in tool.input_schema.get("properties", {})
        assert tool.output_schema is not None
        assert tool.description and not tool.description.startswith(" ")
        assert tool.annotations is not None
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations.destructive_hint is True
    assert tools["complete_task"].annotations.idempotent_hint is True
    assert tools["add_task"].annotations.read_only_hint is False
    title = tools["add_task"].input_schema["properties"]["title"]
    assert (title["minLength"], title["maxLength"]) == (1, 200)
    assert tools["complete_task"].input_schema["properties"]["task_id"]["minimum"] == 1
    assert tools["list_tasks"].input_schema["properties"]["status"]["enum"] == [
        "all",
        "pending",
        "completed",
    ]


async def test_add_task_creates_a_task_and_returns_its_id(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        added = await call(client, "add_task", title="  Buy milk ", description="2 liters")
        listed = await call(client, "list_tasks")
    assert added == {"task_id": added["task_id"], "status": "created", "title": "Buy milk"}
    assert listed["count"] == 1
    task = listed["tasks"][0]
    assert (task["id"], task["title"], task["description"], task["completed"]) == (
        added["task_id"],
        "Buy milk",
        "2 liters",
        False,
    )
    # Compact for the model: no timestamps (the REST API keeps them).
    assert set(task) == {"id", "title", "description", "completed"}


async def test_add_task_result_text_is_the_same_json(settings: Settings) -> None:
    """Clients that ignore structured content (and the Agents SDK by default) read the text."""
    import json

    async with client_as("alice", settings) as client:
        result = await client.call_tool("add_task", {"title": "Buy milk"})
    assert json.loads(result.content[0].text) == result.structured_content


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title must not be blank"),
        ({"title": "x" * 201}, "at most 200 characters"),
        ({"title": "ok", "description": "d" * 1001}, "at most 1000 characters"),
        ({}, "title"),
    ],
)
async def test_add_task_rejects_bad_input_with_a_clear_message(
    settings: Settings, arguments: dict[str, Any], expected: str
) -> None:
    async with client_as("alice", settings) as client:
        message = await error_text(client, "add_task", **arguments)
        assert (await call(client, "list_tasks"))["count"] == 0
    assert expected in message
    assert "pydantic" not in message and "xxxxxxxx" not in message  # no docs links, no echo


async def test_list_tasks_filters_by_status(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        first = await call(client, "add_task", title="Buy milk")
        await call(client, "add_task", title="Call mom")
        await call(client, "complete_task", task_id=first["task_id"])
        titles = {
            status: [
                task["title"] for task in (await call(client, "list_tasks", status=status))["tasks"]
            ]
            for status in ("all", "pending", "completed")
        }
        empty = await call(client, "list_tasks", status="pending")
    assert titles == {
        "all": ["Buy milk", "Call mom"],
        "pending": ["Call mom"],
        "completed": ["Buy milk"],
    }
    assert empty["count"] == 1


async def test_list_tasks_rejects_an_unknown_status(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        message = await error_text(client, "list_tasks", status="done")
    assert "'all', 'pending' or 'completed'" in message


async def test_complete_task_sets_completed_and_is_idempotent(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        task_id = (await call(client, "add_task", title="Buy milk"))["task_id"]
        first = await call(client, "complete_task", task_id=task_id)
        again = await call(client, "complete_task", task_id=task_id)  # not a toggle
        listed = await call(client, "list_tasks", status="completed")
    assert first == again == {"task_id": task_id, "status": "completed", "title": "Buy milk"}
    assert [task["id"] for task in listed["tasks"]] == [task_id]


async def test_delete_task_removes_it_and_names_it(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        task_id = (await call(client, "add_task", title="Buy milk"))["task_id"]
        deleted = await call(client, "delete_task", task_id=task_id)
        listed = await call(client, "list_tasks")
        again = await error_text(client, "delete_task", task_id=task_id)
    assert deleted == {"task_id": task_id, "status": "deleted", "title": "Buy milk"}
    assert listed == {"tasks": [], "count": 0, "total": 0}
    assert f"Task {task_id} not found" in again


async def test_update_task_changes_only_what_is_given(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        task_id = (await call(client, "add_task", title="Buy milk", description="2 liters"))[
            "task_id"
        ]
        renamed = await call(client, "update_task", task_id=task_id, title=" Buy oat milk ")
        after_rename = (await call(client, "list_tasks"))["tasks"][0]
        await call(client, "update_task", task_id=task_id, description="")
        after_clear = (await call(client, "list_tasks"))["tasks"][0]
    assert renamed == {"task_id": task_id, "status": "updated", "title": "Buy oat milk"}
    assert (after_rename["title"], after_rename["description"]) == ("Buy oat milk", "2 liters")
    assert (after_clear["title"], after_clear.get("description")) == ("Buy oat milk", None)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"title": "   "}, "title must not be blank"),
        ({"title": "x" * 201}, "at most 200 characters"),
        ({"description": "d" * 1001}, "at most 1000 characters"),
        ({}, "Nothing to update"),
    ],
)
async def test_update_task_rejects_bad_input(
    settings: Settings, arguments: dict[str, Any], expected: str
) -> None:
    async with client_as("alice", settings) as client:
        task_id = (await call(client, "add_task", title="Buy milk"))["task_id"]
        message = await error_text(client, "update_task", task_id=task_id, **arguments)
        unchanged = (await call(client, "list_tasks"))["tasks"][0]
    assert expected in message
    assert unchanged["title"] == "Buy milk"


@pytest.mark.parametrize("tool", ["complete_task", "delete_task", "update_task"])
@pytest.mark.parametrize(
    ("task_id", "expected"),
    [
        (0, "greater than or equal to 1"),
        (-3, "greater than or equal to 1"),
        ("abc", "valid integer"),
    ],
)
async def test_task_id_must_be_a_positive_integer(
    settings: Settings, tool: str, task_id: object, expected: str
) -> None:
    extra = {"title": "New"} if tool == "update_task" else {}
    async with client_as("alice", settings) as client:
        message = await error_text(client, tool, task_id=task_id, **extra)
    assert "task_id" in message and expected in message


@pytest.mark.parametrize("tool", ["complete_task", "delete_task", "update_task"])
async def test_unknown_task_is_a_tool_error_the_model_can_relay(
    settings: Settings, tool: str
) -> None:
    extra = {"title": "New"} if tool == "update_task" else {}
    async with client_as("alice", settings) as client:
        message = await error_text(client, tool, task_id=4242, **extra)
    assert "Task 4242 not found" in message
    assert "list_tasks" in message  # tells the model how to recover


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("complete_task", {}),
        ("delete_task", {}),
        ("update_task", {"title": "pwned"}),
        ("update_task", {"description": "pwned"}),
    ],
)
async def test_bob_cannot_touch_alices_tasks(
    settings: Settings, tool: str, arguments: dict[str, Any]
) -> None:
    async with client_as("alice", settings) as alice, client_as("bob", settings) as bob:
        task_id = (await call(alice, "add_task", title="Alice's secret", description="private"))[
            "task_id"
        ]
        message = await error_text(bob, tool, task_id=task_id, **arguments)
        alices = await call(alice, "list_tasks")
    # Indistinguishable from a task that does not exist, and nothing changed.
    assert message.endswith(
        f"Task {task_id} not found. Call list_tasks to see the ids of your tasks."
    )
    assert "Alice" not in message
    assert alices["count"] == 1
    task = alices["tasks"][0]
    assert (task["title"], task["description"], task["completed"]) == (
        "Alice's secret",
        "private",
        False,
    )


async def test_bob_lists_only_his_own_tasks(settings: Settings) -> None:
    async with client_as("alice", settings) as alice, client_as("bob", settings) as bob:
        await call(alice, "add_task", title="Alice's secret")
        await call(bob, "add_task", title="Bob's chore")
        for status in ("all", "pending", "completed"):
            listed = await call(bob, "list_tasks", status=status)
            assert "Alice's secret" not in str(listed)
        bobs = await call(bob, "list_tasks")
    assert [task["title"] for task in bobs["tasks"]] == ["Bob's chore"]


async def test_tools_refuse_to_run_without_a_caller(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("list_tasks", {})
    assert result.is_error
    assert "Not authenticated" in result.content[0].text


async def test_an_expired_stdio_token_stops_the_tools(sqlite_settings: Settings) -> None:
    async with client_as("alice", sqlite_settings, expires_at=int(time.time()) - 10) as client:
        message = await error_text(client, "list_tasks")
    assert "expired" in message
