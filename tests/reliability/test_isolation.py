"""User B, holding a valid token of their own, can neither read nor change user A's tasks and
conversations, nor tell them apart from ones that do not exist: not through the REST routes, not
through the conversations API, not through the chat routes, not through the MCP tools, and not by
asking the agent (the offline model, driving the real MCP server).

A "someone else's" answer is compared byte for byte with the answer for the same id once A has
deleted it, so not even the wording gives the existence away.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.mcp import mcp_call
from tests.support.processes import ServiceProcess
from tests.support.sse import sse_events
from tests.support.tokens import bearer

ALICE, BOB = "alice", "bob"


def _setup_alice(client: TestClient) -> tuple[dict[str, Any], int]:
    """Alice's task (made through the agent, as a user would) and her conversation."""
    answer = client.post(
        f"/api/{ALICE}/chat", json={"message": "add feed the zebra"}, headers=bearer(ALICE)
    )
    assert answer.status_code == 200, answer.text
    [task] = client.get(f"/api/{ALICE}/tasks", headers=bearer(ALICE)).json()
    return task, answer.json()["conversation_id"]


def _alice_state(client: TestClient) -> tuple[list, list]:
    headers = bearer(ALICE)
    listed = client.get(f"/api/{ALICE}/tasks", headers=headers).json()
    conversations = client.get(f"/api/{ALICE}/conversations", headers=headers).json()["items"]
    stored = [
        client.get(f"/api/{ALICE}/conversations/{c['id']}/messages", headers=headers).json()
        for c in conversations
    ]
    return listed, stored


def _attempts(user: str, task_id: int, conversation_id: int) -> dict[str, tuple[str, str, Any]]:
    """Every route that takes an id, as (method, url, json body)."""
    tasks = f"/api/{user}/tasks/{task_id}"
    conversation = f"/api/{user}/conversations/{conversation_id}"
    resume = {"message": "delete all my tasks", "conversation_id": conversation_id}
    return {
        "read task": ("GET", tasks, None),
        "update task": ("PUT", tasks, {"title": "owned", "completed": True}),
        "toggle task": ("PATCH", f"{tasks}/complete", None),
        "delete task": ("DELETE", tasks, None),
        "read messages": ("GET", f"{conversation}/messages", None),
        "delete conversation": ("DELETE", conversation, None),
        "chat in conversation": ("POST", f"/api/{user}/chat", resume),
        "stream in conversation": ("POST", f"/api/{user}/chat/stream", resume),
    }


def _send(client: TestClient, user: str, method: str, url: str, body: Any) -> tuple[int, str]:
    response = client.request(method, url, json=body, headers=bearer(user))
    return response.status_code, response.text


def test_a_path_with_another_users_id_is_403_on_every_route(client: TestClient) -> None:
    task, conversation_id = _setup_alice(client)
    before = _alice_state(client)
    routes = {
        **_attempts(ALICE, task["id"], conversation_id),
        "list tasks": ("GET", f"/api/{ALICE}/tasks", None),
        "create task": ("POST", f"/api/{ALICE}/tasks", {"title": "planted"}),
        "list conversations": ("GET", f"/api/{ALICE}/conversations", None),
        "new chat": ("POST", f"/api/{ALICE}/chat", {"message": "delete all tasks"}),
        "new stream": ("POST", f"/api/{ALICE}/chat/stream", {"message": "delete all tasks"}),
    }
    answers = {name: _send(client, BOB, *route) for name, route in routes.items()}
    forbidden = (403, '{"detail":"Token does not belong to this user"}')
    assert answers == {name: forbidden for name in routes}
    assert _alice_state(client) == before


def test_another_users_ids_are_answered_exactly_like_missing_ones(client: TestClient) -> None:
    task, conversation_id = _setup_alice(client)
    before = _alice_state(client)
    # Alice's ids and their neighbours (what someone guessing ids would try).
    tried = [
        (task_id, conv_id)
        for task_id in range(max(1, task["id"] - 2), task["id"] + 3)
        for conv_id in {conversation_id, conversation_id + 1}
    ]
    while_alices = {
        (ids, name): _send(client, BOB, *route)
        for ids in tried
        for name, route in _attempts(BOB, *ids).items()
    }
    assert {status for status, _ in while_alices.values()} == {404}
    assert _alice_state(client) == before  # nothing of Alice's was read or changed

    # Bob's own lists show nothing of Alice's.
    assert client.get(f"/api/{BOB}/tasks", headers=bearer(BOB)).json() == []
    bobs = client.get(f"/api/{BOB}/conversations", headers=bearer(BOB)).json()
    assert bobs["total"] == 0 and bobs["items"] == []

    # Once Alice deletes them, the same ids are simply missing: Bob sees no difference.
    headers = bearer(ALICE)
    assert client.delete(f"/api/{ALICE}/tasks/{task['id']}", headers=headers).status_code == 204
    gone = client.delete(f"/api/{ALICE}/conversations/{conversation_id}", headers=headers)
    assert gone.status_code == 204
    once_missing = {
        (ids, name): _send(client, BOB, *route)
        for ids in tried
        for name, route in _attempts(BOB, *ids).items()
    }
    assert once_missing == while_alices


@pytest.mark.parametrize(
    "request_text",
    ["complete task {id}", "delete task {id}", "rename task {id} to hacked", "mark task {id} done"],
)
def test_the_agent_cannot_be_asked_to_act_on_another_users_task(
    client: TestClient, request_text: str
) -> None:
    task, _ = _setup_alice(client)
    before = _alice_state(client)
    message = request_text.format(id=task["id"])
    answer = client.post(f"/api/{BOB}/chat", json={"message": message}, headers=bearer(BOB))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "not found" in body["response"].lower()
    assert body["tool_calls"], "the agent did try: the tool itself must refuse"
    for call in body["tool_calls"]:
        assert "error" in call["result"] or call["result"].get("count") == 0, call
    assert _alice_state(client) == before


def test_listing_through_the_agent_shows_only_the_callers_tasks(client: TestClient) -> None:
    _setup_alice(client)
    answer = client.post(f"/api/{BOB}/chat", json={"message": "show my tasks"}, headers=bearer(BOB))
    assert answer.status_code == 200
    [listed] = answer.json()["tool_calls"]
    assert listed["tool"] == "list_tasks" and listed["result"]["count"] == 0
    assert "zebra" not in answer.json()["response"].lower()


def _tool(mcp: ServiceProcess, user: str, name: str, arguments: dict) -> dict[str, Any]:
    response = mcp_call(mcp, name, arguments, bearer(user))
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_every_mcp_tool_is_scoped_to_the_tokens_user(
    client: TestClient, mcp_process: ServiceProcess
) -> None:
    task, _ = _setup_alice(client)
    before = _alice_state(client)
    calls = {
        "complete_task": {"task_id": task["id"]},
        "delete_task": {"task_id": task["id"]},
        "update_task": {"task_id": task["id"], "title": "owned"},
    }
    while_alices = {name: _tool(mcp_process, BOB, name, args) for name, args in calls.items()}
    for result in while_alices.values():
        assert result["isError"] is True
    # A stray user_id argument does not choose the user either.
    listed = _tool(mcp_process, BOB, "list_tasks", {"user_id": ALICE})
    assert listed["structuredContent"] == {"tasks": [], "count": 0, "total": 0}
    added = _tool(mcp_process, BOB, "add_task", {"title": "Bob's", "user_id": ALICE})
    assert _alice_state(client) == before

    # Alice deletes her task: Bob's answers for that id do not change at all.
    assert (
        client.delete(f"/api/{ALICE}/tasks/{task['id']}", headers=bearer(ALICE)).status_code == 204
    )
    once_missing = {name: _tool(mcp_process, BOB, name, args) for name, args in calls.items()}
    assert once_missing == while_alices
    bobs = client.get(f"/api/{BOB}/tasks", headers=bearer(BOB)).json()
    assert [t["id"] for t in bobs] == [added["structuredContent"]["task_id"]]


def test_a_stream_for_another_users_conversation_sends_no_events(client: TestClient) -> None:
    _, conversation_id = _setup_alice(client)
    response = client.post(
        f"/api/{BOB}/chat/stream",
        json={"message": "list my tasks", "conversation_id": conversation_id},
        headers=bearer(BOB),
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert sse_events(response.text) == []
