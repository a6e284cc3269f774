"""The delete guard (issue #23): no model deletes more than the message asks for without a "yes".

The model is `agents.testing.ScriptedModel` trying to delete every task after "delete the gym
task"; the tools are the real MCP server, so a delete that gets through really deletes.
"""

from __future__ import annotations

import pytest
from agents.testing import assistant_message, function_call

from backend.chat.delete_guard import deletes_asked_for, is_confirmation
from backend.deps import get_chat_model
from tests.conftest import override_settings
from tests.support.chat import chat, tasks


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("delete the gym task", 1),
        ("I don't need the gym anymore, you can get rid of it", 1),
        ("delete them", 1),
        ("delete both", 2),
        ("remove eggs, milk and bread", 3),
        ("delete the milk and bread tasks", 2),
        ("delete tasks 1, 2 and 3", 3),
        ("delete #4 and #7", 2),
        ("delete three tasks", 3),
        ("clear my list", None),
        ("delete all completed tasks", None),
        ("remove the done ones", None),
        ("delete the ones I've finished", None),
        ("remove the tasks that are done", None),
        ("delete everything", None),
        ("delete every task on my list", None),
    ],
)
def test_deletes_asked_for_counts_what_the_message_names(message: str, asked: int | None) -> None:
    assert deletes_asked_for(message) == asked


@pytest.mark.parametrize(
    ("message", "confirms"),
    [
        ("yes", True),
        ("Yes please", True),
        ("ok, do it", True),
        ("sure, delete them", True),
        ("no", False),
        ("yes but keep the milk", False),
        ("wait, don't", False),
        ("yes I want to add a task about the yearly review of my budget", False),
    ],
)
def test_a_confirmation_is_a_short_yes(message: str, confirms: bool) -> None:
    assert is_confirmation(message) is confirms


def _seed(client, headers, titles: list[str]) -> list[int]:
    ids = []
    for title in titles:
        response = client.post("/api/alice/tasks", json={"title": title}, headers=headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _delete_all(ids: list[int], prefix: str) -> list:
    return [
        function_call("delete_task", {"task_id": task_id}, call_id=f"{prefix}_{task_id}")
        for task_id in ids
    ]


def test_an_over_deleting_model_is_stopped_and_asks_then_yes_deletes(client, model, headers):
    gym, rent, mom = _seed(client, headers, ["Go to the gym", "Pay rent", "Call mom"])
    model.extend(
        [
            [function_call("list_tasks", {"status": "all"}, call_id="list")],
            _delete_all([gym, rent, mom], "first"),
        ]
    )
    first = chat(client, headers, "delete the gym task")
    assert first.status_code == 200, first.text
    body = first.json()
    # The first delete is what the message asked for; the two others are held back.
    assert [task["title"] for task in tasks(client, headers)] == ["Pay rent", "Call mom"]
    assert '"Pay rent"' in body["response"] and '"Call mom"' in body["response"]
    assert 'Reply "yes"' in body["response"]
    held = [call for call in body["tool_calls"] if call["result"].get("status") != "deleted"]
    assert [call["tool"] for call in body["tool_calls"]] == ["list_tasks"] + ["delete_task"] * 3
    assert [call["result"]["status"] for call in held[1:]] == ["awaiting_confirmation"] * 2

    # The model sees the held calls in its history and makes them again; "yes" lets them pass.
    model.extend([_delete_all([rent, mom], "again"), [assistant_message("Deleted both.")]])
    second = chat(client, headers, "yes", body["conversation_id"])
    assert second.status_code == 200, second.text
    assert second.json()["response"] == "Deleted both."
    assert tasks(client, headers) == []


def test_anything_but_yes_drops_the_held_deletes(client, model, headers):
    # Threshold 0: a message that asks for no delete allows none (the default 1 allows one).
    override_settings(client.app, delete_confirm_threshold=0)
    gym, rent = _seed(client, headers, ["Go to the gym", "Pay rent"])
    model.extend([_delete_all([gym, rent], "first")])
    body = chat(client, headers, "delete the gym task").json()
    assert [task["title"] for task in tasks(client, headers)] == ["Pay rent"]
    # "no": a model that deletes anyway is held back again.
    model.extend([_delete_all([rent], "again")])
    again = chat(client, headers, "no, keep it", body["conversation_id"]).json()
    assert again["tool_calls"][0]["result"]["status"] == "awaiting_confirmation"
    assert [task["title"] for task in tasks(client, headers)] == ["Pay rent"]


def test_an_explicit_bulk_delete_is_not_held(client, model, headers):
    ids = _seed(client, headers, ["A", "B", "C"])
    model.extend([_delete_all(ids, "bulk"), [assistant_message("Cleared your list.")]])
    response = chat(client, headers, "clear my list").json()
    assert response["response"] == "Cleared your list."
    assert tasks(client, headers) == []


def test_the_offline_model_asks_and_deletes_on_yes(client, headers):
    """The offline model deletes only the named task itself; the guard still stops a "delete
    them" after a listing, and the offline model performs the held deletes on "yes"."""
    client.app.dependency_overrides.pop(get_chat_model, None)  # the configured (offline) model
    _seed(client, headers, ["Go to the gym", "Pay rent"])
    listed = chat(client, headers, "show my tasks").json()
    asked = chat(client, headers, "delete them", listed["conversation_id"]).json()
    assert 'Reply "yes"' in asked["response"], asked
    assert len(tasks(client, headers)) == 1
    done = chat(client, headers, "yes", listed["conversation_id"]).json()
    assert tasks(client, headers) == [], done
