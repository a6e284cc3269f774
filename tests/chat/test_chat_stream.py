"""POST /api/{user_id}/chat/stream: the same turn as /chat, as server-sent events."""

from __future__ import annotations

import json
import threading
import time

import httpx
import httpx2
import openai
import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call

from backend.chat.journal import INTERRUPTED_REPLY
from backend.deps import get_chat_model
from backend.main import create_app
from tests.support.chat import chat, chat_body, conversations, messages, tasks
from tests.support.serving import serving
from tests.support.sse import data_payloads

ADD_MILK = function_call("add_task", {"title": "Buy milk"}, call_id="call_add")


def stream(client, headers, message, conversation_id=None, key=None) -> tuple[int, list]:
    """The status and the `data:` payloads of one streamed turn (`[DONE]` kept as a string)."""
    body = chat_body(message, conversation_id)
    extra = {"Idempotency-Key": key} if key else {}
    with client.stream(
        "POST", "/api/alice/chat/stream", json=body, headers={**headers, **extra}
    ) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [response.json()]
        assert response.headers["content-type"].startswith("text/event-stream")
        # Nothing but data lines and blank separators.
        return 200, data_payloads(response.iter_lines(), only_data=True)


def test_a_streamed_turn_sends_start_tool_calls_deltas_done_then_DONE(client, model, headers):
    model.extend([[ADD_MILK], [assistant_message("Added 'Buy milk'.")]])
    status, events = stream(client, headers, "add buy milk")
    assert status == 200
    start, tool_call, *deltas, done, end = events
    conversation_id = start["conversation_id"]
    assert start == {"type": "start", "conversation_id": conversation_id}
    task_id = tool_call["result"]["task_id"]
    assert tool_call == {
        "type": "tool_call",
        "tool": "add_task",
        "parameters": {"title": "Buy milk"},
        "result": {"task_id": task_id, "status": "created", "title": "Buy milk"},
    }
    assert deltas and all(delta["type"] == "delta" for delta in deltas)
    assert "".join(delta["text"] for delta in deltas) == "Added 'Buy milk'."
    assert done == {
        "type": "done",
        "conversation_id": conversation_id,
        "response": "Added 'Buy milk'.",
        "tool_calls": [{key: tool_call[key] for key in ("tool", "parameters", "result")}],
    }
    assert end == "[DONE]"
    assert model.last_call.streamed


def test_a_streamed_turn_is_stored_exactly_like_a_plain_one(client, model, headers):
    model.extend(
        [[ADD_MILK], [assistant_message("Added.")], [ADD_MILK], [assistant_message("Added.")]]
    )
    _, events = stream(client, headers, "add buy milk")
    plain = chat(client, headers, "add buy milk").json()
    streamed_id, plain_id = events[0]["conversation_id"], plain["conversation_id"]

    def shape(conversation_id: int) -> list:
        return [
            (m["role"], m["content"], [(c["tool"], c["parameters"]) for c in m["tool_calls"]])
            for m in messages(client, headers, conversation_id)
        ]

    assert shape(streamed_id) == shape(plain_id)
    assert events[-2]["tool_calls"][0]["result"]["status"] == "created"
    # And the next turn of the streamed conversation replays its tool call.
    model.extend([[assistant_message("Yes.")]])
    stream(client, headers, "did it work?", streamed_id)
    assert [item.get("type") for item in model.last_call.input[1:3]] == [
        "function_call",
        "function_call_output",
    ]


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "http://model.invalid/v1/chat/completions")


def test_a_failure_after_the_stream_began_is_an_error_event_and_stores_nothing(
    client, model, headers
):
    model.extend([openai.APIConnectionError(request=_request())])
    status, events = stream(client, headers, "add buy milk")
    assert status == 200
    assert [event if event == "[DONE]" else event["type"] for event in events] == [
        "start",
        "error",
        "[DONE]",
    ]
    assert events[1] == {
        "type": "error",
        "status": 503,
        "detail": "The model provider could not be reached",
    }
    assert conversations(client, headers) == []


def test_a_failure_after_a_tool_keeps_the_tool_call_in_history(client, model, headers):
    model.extend([[ADD_MILK], openai.APITimeoutError(request=_request())])
    _, events = stream(client, headers, "add buy milk")
    assert [event if event == "[DONE]" else event["type"] for event in events] == [
        "start",
        "tool_call",
        "error",
        "[DONE]",
    ]
    user, assistant = messages(client, headers, events[0]["conversation_id"])
    assert user["content"] == "add buy milk"
    assert [call["tool"] for call in assistant["tool_calls"]] == ["add_task"]
    assert [task["title"] for task in tasks(client, headers)] == ["Buy milk"]


def test_errors_known_before_streaming_are_plain_json(client, model, headers, auth_headers):
    status, [body] = stream(client, headers, "   ")
    assert status == 422
    status, [body] = stream(client, headers, "hello", conversation_id=987_654)
    assert (status, body) == (404, {"detail": "Conversation not found"})
    response = client.post("/api/alice/chat/stream", json={"message": "hi"})
    assert response.status_code == 401
    response = client.post(
        "/api/alice/chat/stream", json={"message": "hi"}, headers=auth_headers("bob")
    )
    assert response.status_code == 403


def test_a_streamed_retry_with_the_same_key_replays_the_first_answer(client, model, headers):
    model.extend([[ADD_MILK], [assistant_message("Added 'Buy milk'.")]])
    first = chat(client, headers, "add buy milk", key="stream-1").json()
    status, events = stream(client, headers, "add buy milk", key="stream-1")
    assert status == 200
    assert events[0] == {"type": "start", "conversation_id": first["conversation_id"]}
    assert events[1] == {"type": "tool_call", **first["tool_calls"][0]}
    assert events[-2] == {"type": "done", **first}
    assert len(tasks(client, headers)) == 1  # the tool did not run again


# --- a client that goes away -----------------------------------------------------------------


async def _slow_reply(_call) -> list:
    import asyncio

    await asyncio.sleep(0.3)  # the client is gone by now
    return [assistant_message("Added 'Buy milk'.")]


@pytest.mark.parametrize("disconnect_after", ["start", "tool_call"])
def test_a_client_that_disconnects_mid_stream_leaves_a_consistent_history(
    settings, headers, disconnect_after
):
    app = create_app(settings)
    scripted = ScriptedModel([[ADD_MILK], ModelStep.respond(_slow_reply)])
    app.dependency_overrides[get_chat_model] = lambda: scripted
    with serving(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        with client.stream(
            "POST", "/api/alice/chat/stream", json={"message": "add buy milk"}, headers=headers
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["type"] == disconnect_after:
                    break
        # Gone. The turn still finishes and is stored as a whole. (While it runs, the journal
        # shows its tool call under a reply that says it was interrupted: wait for the real one.)
        deadline = time.monotonic() + 10
        while True:
            listed = client.get("/api/alice/conversations", headers=headers).json()["items"]
            stored = []
            if listed:
                stored = client.get(
                    f"/api/alice/conversations/{listed[0]['id']}/messages", headers=headers
                ).json()
            if len(stored) == 2 and stored[1]["content"] != INTERRUPTED_REPLY:
                break
            assert time.monotonic() < deadline, stored
            time.sleep(0.05)
        task_titles = [t["title"] for t in client.get("/api/alice/tasks", headers=headers).json()]
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "add buy milk"),
        ("assistant", "Added 'Buy milk'."),
    ]
    assert [call["tool"] for call in stored[1]["tool_calls"]] == ["add_task"]
    assert task_titles == ["Buy milk"]


def test_an_idle_stream_gets_keep_alive_pings_until_the_reply_comes(settings, headers, monkeypatch):
    # The model answers only once the client has seen a ping, so a ping must come while idle.
    monkeypatch.setattr("fastapi.routing._PING_INTERVAL", 0.05)
    pinged = threading.Event()

    async def reply_after_a_ping(_call) -> list:
        import asyncio

        await asyncio.to_thread(pinged.wait, 10)
        return [assistant_message("Still here.")]

    app = create_app(settings)
    scripted = ScriptedModel([ModelStep.respond(reply_after_a_ping)])
    app.dependency_overrides[get_chat_model] = lambda: scripted
    lines = []
    with serving(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        with client.stream(
            "POST", "/api/alice/chat/stream", json={"message": "hello"}, headers=headers
        ) as response:
            for line in response.iter_lines():
                lines.append(line)
                if line == ": ping":
                    pinged.set()
    data = [json.loads(line[6:])["type"] for line in lines if line.startswith("data: {")]
    assert data == ["start", "delta", "done"]
    assert lines.index(": ping") < lines.index(next(x for x in lines if '"delta"' in x))
    assert [line for line in lines if line.startswith("data: ")][-1] == "data: [DONE]"
