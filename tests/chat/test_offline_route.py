"""The offline default model through the real chat routes and the real MCP server process.

No model is injected: the app builds its default (`MODEL=offline`), so these are the turns a
fresh `todo-agent serve` answers. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

from tests.support.chat import chat, messages, tasks


def add_via_rest(client, headers, title: str) -> int:
    response = client.post("/api/alice/tasks", json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_default_model_is_offline_and_drives_the_mcp_tools(client, headers, settings):
    assert settings.model_name == "offline"
    first = chat(client, headers, "add call the plumber")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["tool_calls"][0]["tool"] == "add_task"
    assert body["tool_calls"][0]["parameters"] == {"title": "Call the plumber"}
    task_id = body["tool_calls"][0]["result"]["task_id"]
    assert f'"Call the plumber" (#{task_id})' in body["response"]

    # The next turn finds "it" in the history the route rebuilt from the database.
    second = chat(client, headers, "actually mark it done", body["conversation_id"]).json()
    assert [(c["tool"], c["parameters"]) for c in second["tool_calls"]] == [
        ("complete_task", {"task_id": task_id})
    ]
    assert [(t["title"], t["completed"]) for t in tasks(client, headers)] == [
        ("Call the plumber", True)
    ]


def test_a_task_named_by_its_title_is_listed_first_then_changed(client, headers):
    add_via_rest(client, headers, "Buy milk")
    gym = add_via_rest(client, headers, "Go to the gym")
    body = chat(client, headers, "delete the gym task and add yoga class instead").json()
    assert [c["tool"] for c in body["tool_calls"]] == ["list_tasks", "delete_task", "add_task"]
    assert body["tool_calls"][1]["parameters"] == {"task_id": gym}
    assert "Go to the gym" in body["response"] and "Yoga class" in body["response"]
    assert sorted(t["title"] for t in tasks(client, headers)) == ["Buy milk", "Yoga class"]


def test_an_unknown_id_is_reported_and_nothing_changes(client, headers):
    add_via_rest(client, headers, "Buy milk")
    body = chat(client, headers, "delete task 999").json()
    assert "999" in body["response"] and "not found" in body["response"]
    assert "Traceback" not in body["response"] and "list_tasks" not in body["response"]
    assert [t["title"] for t in tasks(client, headers)] == ["Buy milk"]


def test_an_ambiguous_name_changes_nothing_and_names_the_candidates(client, headers):
    add_via_rest(client, headers, "Call mom")
    add_via_rest(client, headers, "Call the bank")
    body = chat(client, headers, "mark the call task as done").json()
    assert [c["tool"] for c in body["tool_calls"]] == ["list_tasks"]
    assert "Call mom" in body["response"] and "Call the bank" in body["response"]
    assert not any(t["completed"] for t in tasks(client, headers))


def test_small_talk_calls_no_tool(client, headers):
    body = chat(client, headers, "what can you do?").json()
    assert body["tool_calls"] == []
    assert "rule-based" in body["response"]


def test_the_streaming_route_streams_the_offline_reply_and_persists_the_turn(client, headers):
    add_via_rest(client, headers, "Buy milk")
    events = []
    with client.stream(
        "POST", "/api/alice/chat/stream", json={"message": "add eggs and bread"}, headers=headers
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = line[len("data: ") :]
                events.append(data if data == "[DONE]" else json.loads(data))
    assert events[-1] == "[DONE]"
    done = events[-2]
    assert done["type"] == "done"
    tool_events = [e for e in events[:-1] if e["type"] == "tool_call"]
    assert [e["parameters"] for e in tool_events] == [{"title": "Eggs"}, {"title": "Bread"}]
    deltas = [e["text"] for e in events[:-1] if e["type"] == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == done["response"]
    # Persisted like any turn: the next one refers back to it.
    follow_up = chat(client, headers, "mark them both as done", done["conversation_id"]).json()
    assert [c["tool"] for c in follow_up["tool_calls"]] == ["complete_task", "complete_task"]
    assert sorted((t["title"], t["completed"]) for t in tasks(client, headers)) == [
        ("Bread", True),
        ("Buy milk", False),
        ("Eggs", True),
    ]
    stored = messages(client, headers, done["conversation_id"])
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
