"""`list_tasks` for a model's context: compact tasks, pages with a total, search (issue #15)."""

from __future__ import annotations

import json

from backend.config import Settings
from tests.test_mcp_tools import call, client_as


async def test_a_long_list_comes_in_pages_with_a_total(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        for number in range(1, 121):
            await call(client, "add_task", title=f"Task {number}")
        first = await call(client, "list_tasks")
        assert (first["count"], first["total"], first["next_offset"]) == (50, 120, 50)
        assert [task["title"] for task in first["tasks"][:2]] == ["Task 1", "Task 2"]
        last = await call(client, "list_tasks", offset=100)
        assert (last["count"], last["total"]) == (20, 120)
        assert "next_offset" not in last  # the end: nothing more to fetch
        everything = await call(client, "list_tasks", limit=500)
        assert everything["count"] == 120
    # ~50 bytes a task: a page of 50 stays a few KB whatever the user has.
    assert len(json.dumps(first)) < 50 * 60


async def test_search_finds_tasks_by_words_of_the_title_or_description(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        await call(client, "add_task", title="Buy oat milk")
        await call(client, "add_task", title="Call mom", description="about the MILK order")
        await call(client, "add_task", title="Walk the dog")
        found = await call(client, "list_tasks", search="milk")
        assert [t["title"] for t in found["tasks"]] == ["Buy oat milk", "Call mom"]
        assert found["total"] == 2
        both_words = await call(client, "list_tasks", search="oat MILK")
        assert [t["title"] for t in both_words["tasks"]] == ["Buy oat milk"]
        wildcard = await call(client, "list_tasks", search="%")
        assert wildcard["total"] == 3  # no SQL wildcards from the model: "%" matches like ""
    async with client_as("bob", settings) as bob:
        assert (await call(bob, "list_tasks", search="milk"))["total"] == 0  # alice's only


async def test_tasks_are_compact_for_the_model(settings: Settings) -> None:
    async with client_as("alice", settings) as client:
        await call(client, "add_task", title="Plain")
        await call(client, "add_task", title="Detailed", description="2 liters")
        tasks = (await call(client, "list_tasks"))["tasks"]
    assert tasks[0] == {"id": tasks[0]["id"], "title": "Plain", "completed": False}
    assert tasks[1]["description"] == "2 liters" and "created_at" not in tasks[1]
