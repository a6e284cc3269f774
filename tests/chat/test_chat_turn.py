"""The chat turn (POST /api/{user_id}/chat) with a scripted model and the real MCP server.

The model is `agents.testing.ScriptedModel`, put in as `dependency_overrides[get_chat_model]`; the tools are the
real `todo-agent mcp` process on the same database, so every tool call really changes tasks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import openai
import pytest
from agents import MaxTurnsExceeded, ModelBehaviorError
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from sqlmodel import Session, select

from backend.config import Settings
from backend.db import get_engine
from backend.deps import get_chat_model
from backend.main import create_app
from backend.models import Conversation, IdempotentRequest, Message, utcnow
from tests.conftest import override_settings
from tests.support.chat import chat, conversations, messages, tasks
from tests.support.processes import free_port

ADD_MILK = function_call("add_task", {"title": "Buy milk"}, call_id="call_add")


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "http://model.invalid/v1/chat/completions")


# --- the happy path ------------------------------------------------------------------------


def test_add_then_list_then_complete_by_reference(client, model, headers):
    model.extend(
        [
            [ADD_MILK],
            [assistant_message("Added 'Buy milk' (#1).")],
        ]
    )
    first = chat(client, headers, "add buy milk")
    assert first.status_code == 200, first.text
    body = first.json()
    conversation_id = body["conversation_id"]
    task_id = body["tool_calls"][0]["result"]["task_id"]
    assert body == {
        "conversation_id": conversation_id,
        "response": "Added 'Buy milk' (#1).",
        "tool_calls": [
            {
                "tool": "add_task",
                "parameters": {"title": "Buy milk"},
                "result": {"task_id": task_id, "status": "created", "title": "Buy milk"},
            }
        ],
    }

    model.extend(
        [
            [function_call("list_tasks", {"status": "pending"}, call_id="call_list")],
            [assistant_message("You have one task: Buy milk.")],
        ]
    )
    second = chat(client, headers, "what's on my list?", conversation_id).json()
    assert second["conversation_id"] == conversation_id
    [listed] = second["tool_calls"]
    assert listed["tool"] == "list_tasks" and listed["parameters"] == {"status": "pending"}
    assert listed["result"]["count"] == 1
    assert [task["title"] for task in listed["result"]["tasks"]] == ["Buy milk"]

    model.extend(
        [
            [function_call("complete_task", {"task_id": task_id}, call_id="call_done")],
            [assistant_message("Marked 'Buy milk' as done.")],
        ]
    )
    third = chat(client, headers, "mark it done", conversation_id).json()
    assert third["tool_calls"] == [
        {
            "tool": "complete_task",
            "parameters": {"task_id": task_id},
            "result": {"task_id": task_id, "status": "completed", "title": "Buy milk"},
        }
    ]
    assert [(task["title"], task["completed"]) for task in tasks(client, headers)] == [
        ("Buy milk", True)
    ]
    # "mark it done" is answerable because the model saw the earlier turns, tool results included.
    seen = model.calls[-2].input  # the first model call of the third turn
    assert {"role": "user", "content": "add buy milk"} in seen
    assert any(
        item.get("type") == "function_call_output" and str(task_id) in str(item.get("output"))
        for item in seen
    )


def test_history_is_replayed_with_tool_calls_in_the_documented_format(client, model, headers):
    model.extend([[ADD_MILK], [assistant_message("Added 'Buy milk'.")]])
    first = chat(client, headers, "add buy milk").json()
    task_id = first["tool_calls"][0]["result"]["task_id"]

    model.extend([[assistant_message("Hello!")]])
    chat(client, headers, "hi", first["conversation_id"])

    assert model.last_call.input == [
        {"role": "user", "content": "add buy milk"},
        {
            "type": "function_call",
            "call_id": "call_add",
            "name": "add_task",
            "arguments": '{"title":"Buy milk"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_add",
            "output": json.dumps({"task_id": task_id, "status": "created", "title": "Buy milk"}),
        },
        {"role": "assistant", "content": "Added 'Buy milk'."},
        {"role": "user", "content": "hi"},
    ]


def test_history_is_cut_to_the_newest_messages_without_orphan_tool_output(
    client, model, headers, monkeypatch
):
    model.extend([[ADD_MILK], [assistant_message("Added.")], [assistant_message("Hi!")]])
    conversation_id = chat(client, headers, "add buy milk").json()["conversation_id"]
    chat(client, headers, "hello", conversation_id)

    override_settings(client.app, history_limit=3)
    model.extend([[assistant_message("Still here.")]])
    chat(client, headers, "are you there?", conversation_id)

    seen = model.last_call.input
    # Newest 3 of 4 messages: the first assistant message (with its tool call), "hello", "Hi!".
    assert [item.get("type") or item["role"] for item in seen] == [
        "function_call",
        "function_call_output",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert seen[-1] == {"role": "user", "content": "are you there?"}


def test_a_new_conversation_is_titled_from_its_first_message(client, model, headers):
    long_message = "please remember to " + "water the plants on the balcony " * 4
    model.extend([[assistant_message("Sure.")]])
    chat(client, headers, "   " + long_message)
    [conversation] = conversations(client, headers)
    assert conversation["title"].startswith("please remember to water the plants")
    assert len(conversation["title"]) <= 60
    assert conversation["message_count"] == 2


def test_a_turn_without_tools_stores_both_messages(client, model, headers):
    model.extend([[assistant_message("I can add, list, complete and delete tasks.")]])
    body = chat(client, headers, "what can you do?").json()
    assert body["tool_calls"] == []
    stored = messages(client, headers, body["conversation_id"])
    assert [(m["role"], m["content"], m["tool_calls"]) for m in stored] == [
        ("user", "what can you do?", []),
        ("assistant", "I can add, list, complete and delete tasks.", []),
    ]


def test_a_tool_error_is_reported_as_an_error_result(client, model, headers):
    model.extend(
        [
            [function_call("delete_task", {"task_id": 4242}, call_id="call_del")],
            [assistant_message("There is no task 4242.")],
        ]
    )
    body = chat(client, headers, "delete task 4242").json()
    [call] = body["tool_calls"]
    assert call["tool"] == "delete_task"
    assert "not found" in call["result"]["error"]
    assert body["response"] == "There is no task 4242."


# --- input and access ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"message": "   \n\t "},
        {"message": "x" * 4001},
        {"message": "  " + "x" * 4001 + "  "},
        {},
        {"message": "hi", "conversation_id": 0},
        {"message": "hi", "conversation_id": "abc"},
    ],
)
def test_invalid_chat_input_is_422_and_stores_nothing(client, headers, body):
    response = client.post("/api/alice/chat", json=body, headers=headers)
    assert response.status_code == 422
    assert conversations(client, headers) == []


def test_a_message_of_4000_characters_after_trimming_is_accepted(client, model, headers):
    model.extend([[assistant_message("That is long.")]])
    response = chat(client, headers, "  " + "y" * 4000 + "  ")
    assert response.status_code == 200
    stored = messages(client, headers, response.json()["conversation_id"])
    assert stored[0]["content"] == "y" * 4000


def test_another_users_conversation_is_404_and_untouched(client, model, headers, auth_headers):
    model.extend([[assistant_message("Hi Alice.")]])
    conversation_id = chat(client, headers, "hello").json()["conversation_id"]

    response = chat(client, auth_headers("bob"), "hello", conversation_id, user="bob")
    assert response.status_code == 404
    assert response.json() == {"detail": "Conversation not found"}
    assert chat(client, headers, "hi", 999_999).status_code == 404
    assert len(messages(client, headers, conversation_id)) == 2


def test_chat_needs_the_callers_own_token(client, headers):
    assert client.post("/api/alice/chat", json={"message": "hi"}).status_code == 401
    response = client.post("/api/bob/chat", json={"message": "hi"}, headers=headers)
    assert response.status_code == 403


# --- one turn at a time --------------------------------------------------------------------


def _set_claim(conversation_id: int, seconds_from_now: float) -> None:
    from datetime import timedelta

    with Session(get_engine()) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        conversation.turn_claim = "someone-else"
        conversation.turn_claim_expires_at = utcnow() + timedelta(seconds=seconds_from_now)
        session.add(conversation)
        session.commit()


def test_a_turn_while_another_holds_the_conversation_is_409(client, model, headers):
    model.extend([[assistant_message("Hi.")]])
    conversation_id = chat(client, headers, "hello").json()["conversation_id"]
    _set_claim(conversation_id, 60)

    response = chat(client, headers, "add bread", conversation_id)
    assert response.status_code == 409
    assert "Retry-After" in response.headers
    assert len(messages(client, headers, conversation_id)) == 2


def test_an_expired_claim_does_not_lock_the_conversation(client, model, headers):
    model.extend([[assistant_message("Hi.")], [assistant_message("Hi again.")]])
    conversation_id = chat(client, headers, "hello").json()["conversation_id"]
    _set_claim(conversation_id, -1)  # a crashed turn's claim, expired

    response = chat(client, headers, "hello again", conversation_id)
    assert response.status_code == 200
    assert len(messages(client, headers, conversation_id)) == 4


class _Gate:
    """A model step that waits until the test opens it, to hold a turn mid-flight."""

    def __init__(self, output: list) -> None:
        self.output = output
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def __call__(self, _call) -> list:
        self.entered.set()
        await self.opened.wait()
        return self.output


@asynccontextmanager
async def _async_client(app) -> AsyncIterator[httpx.AsyncClient]:
    # ASGITransport sends no lifespan events: run the app's lifespan around the client.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_concurrent_turns_in_one_conversation_never_interleave(settings: Settings, headers):
    app = create_app(settings)
    gate = _Gate([assistant_message("First reply.")])
    scripted = ScriptedModel([[assistant_message("Hello.")], ModelStep.respond(gate)])
    app.dependency_overrides[get_chat_model] = lambda: scripted
    async with _async_client(app) as client:
        opened = await chat_async(client, headers, "hello")
        conversation_id = opened.json()["conversation_id"]

        first = asyncio.create_task(chat_async(client, headers, "first", conversation_id))
        await asyncio.wait_for(gate.entered.wait(), 10)
        second = await chat_async(client, headers, "second", conversation_id)
        assert second.status_code == 409
        # Deleting the conversation mid-turn is refused too.
        deleted = await client.delete(
            f"/api/alice/conversations/{conversation_id}", headers=headers
        )
        assert deleted.status_code == 409

        gate.opened.set()
        assert (await first).status_code == 200
        stored = (
            await client.get(
                f"/api/alice/conversations/{conversation_id}/messages", headers=headers
            )
        ).json()
    assert [m["content"] for m in stored] == ["hello", "Hello.", "first", "First reply."]


async def chat_async(client: httpx.AsyncClient, headers, message, conversation_id=None, key=None):
    body = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/alice/chat", json=body, headers={**headers, **extra})


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (lambda: openai.APIConnectionError(request=_request()), "could not be reached"),
        (lambda: openai.APITimeoutError(request=_request()), "did not answer in time"),
        (lambda: ModelBehaviorError("bad tool call"), "could not use"),
        (lambda: MaxTurnsExceeded("too many"), "too many steps"),
    ],
)
def test_a_model_failure_before_any_tool_stores_nothing(client, model, headers, error, detail):
    model.extend([error()])
    response = chat(client, headers, "add buy milk")
    assert response.status_code == 503
    assert detail in response.json()["detail"]
    assert conversations(client, headers) == []  # not even an empty conversation
    assert tasks(client, headers) == []


def test_a_failure_before_any_tool_leaves_an_existing_conversation_as_it_was(
    client, model, headers
):
    model.extend(
        [
            [assistant_message("Hi.")],
            openai.APIConnectionError(request=_request()),
            [assistant_message("Back again.")],
        ]
    )
    conversation_id = chat(client, headers, "hello").json()["conversation_id"]
    before = conversations(client, headers)

    assert chat(client, headers, "add milk", conversation_id).status_code == 503
    assert conversations(client, headers) == before  # same messages, same activity time
    # The claim was released: the retry runs at once.
    assert chat(client, headers, "add milk", conversation_id).status_code == 200


def test_a_failure_after_a_tool_ran_stores_the_user_message_and_the_tool_calls(
    client, model, headers
):
    model.extend(
        [
            [ADD_MILK],
            openai.APITimeoutError(request=_request()),
            [assistant_message("Yes, 'Buy milk' is on your list.")],
        ]
    )
    response = chat(client, headers, "add buy milk")
    assert response.status_code == 503
    assert response.json() == {"detail": "The model did not answer in time"}

    assert [task["title"] for task in tasks(client, headers)] == ["Buy milk"]
    [conversation] = conversations(client, headers)
    user, assistant = messages(client, headers, conversation["id"])
    assert user["content"] == "add buy milk"
    assert assistant["tool_calls"][0]["tool"] == "add_task"
    assert assistant["tool_calls"][0]["result"]["status"] == "created"
    assert "could not finish" in assistant["content"]

    # The next turn sees what happened, so the model will not add the task twice.
    chat(client, headers, "did you add it?", conversation["id"])
    seen = model.last_call.input
    assert [item.get("type") for item in seen[1:3]] == ["function_call", "function_call_output"]


def test_an_unreachable_task_server_is_503_and_stores_nothing(client, model, headers, monkeypatch):
    model.extend([[assistant_message("Hi.")]])
    conversation_id = chat(client, headers, "hello").json()["conversation_id"]

    override_settings(client.app, mcp_server_url=f"http://127.0.0.1:{free_port()}/mcp")
    for conversation in (None, conversation_id):
        response = chat(client, headers, "add milk", conversation)
        assert response.status_code == 503
        assert response.json() == {"detail": "The task server is unavailable"}
    [conversation] = conversations(client, headers)
    assert conversation["message_count"] == 2


# --- Idempotency-Key ------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_answer_without_running_tools(
    client, model, headers
):
    model.extend([[ADD_MILK], [assistant_message("Added 'Buy milk'.")]])
    first = chat(client, headers, "add buy milk", key="k-1")
    retry = chat(client, headers, "add buy milk", key="k-1")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"  # a client knows it is a replay
    assert len(model.calls) == 2  # the retry never reached the model
    assert len(tasks(client, headers)) == 1
    assert conversations(client, headers)[0]["message_count"] == 2


def test_a_key_is_per_user_and_bound_to_its_request(client, model, headers, auth_headers):
    model.extend([[assistant_message("One.")], [assistant_message("Two.")]])
    assert chat(client, headers, "first", key="k-2").status_code == 200
    reused = chat(client, headers, "something else", key="k-2")
    assert reused.status_code == 422
    # Bob's "k-2" is his own key.
    bob = chat(client, auth_headers("bob"), "first", user="bob", key="k-2")
    assert bob.status_code == 200 and bob.json()["response"] == "Two."


def test_a_clean_failure_frees_the_key_for_a_real_retry(client, model, headers):
    model.extend([openai.APIConnectionError(request=_request()), [assistant_message("Done.")]])
    assert chat(client, headers, "hello", key="k-3").status_code == 503
    retry = chat(client, headers, "hello", key="k-3")
    assert retry.status_code == 200 and retry.json()["response"] == "Done."


def test_a_failure_after_a_tool_is_the_answer_a_retry_gets(client, model, headers):
    model.extend([[ADD_MILK], openai.APIConnectionError(request=_request())])
    first = chat(client, headers, "add buy milk", key="k-4")
    retry = chat(client, headers, "add buy milk", key="k-4")
    assert first.status_code == retry.status_code == 503
    assert retry.json() == first.json()
    # A replayed failure is final for its key: the header tells a retrying client to stop.
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(tasks(client, headers)) == 1  # the tool ran once


def test_a_key_left_running_by_a_crashed_process_is_taken_over(client, model, headers):
    from datetime import timedelta

    from backend.chat.idempotency import fingerprint

    with Session(get_engine()) as session:
        session.add(
            IdempotentRequest(
                user_id="alice",
                key="k-5",
                status="running",
                response={"fingerprint": fingerprint("hello", None)},
                created_at=utcnow() - timedelta(hours=1),
            )
        )
        session.commit()
    model.extend([[assistant_message("Hi.")]])
    assert chat(client, headers, "hello", key="k-5").status_code == 200


async def test_a_retry_while_the_first_request_runs_waits_for_its_answer(
    settings: Settings, headers
):
    app = create_app(settings)
    gate = _Gate([ADD_MILK])
    scripted = ScriptedModel([ModelStep.respond(gate), [assistant_message("Added it.")]])
    app.dependency_overrides[get_chat_model] = lambda: scripted
    async with _async_client(app) as client:
        first = asyncio.create_task(chat_async(client, headers, "add buy milk", key="k-6"))
        await asyncio.wait_for(gate.entered.wait(), 10)
        retry = asyncio.create_task(chat_async(client, headers, "add buy milk", key="k-6"))
        await asyncio.sleep(0.3)  # the retry is now polling for the first answer
        assert not retry.done()
        gate.opened.set()
        first_response, retry_response = await first, await retry
        listed = (await client.get("/api/alice/tasks", headers=headers)).json()
    assert first_response.status_code == retry_response.status_code == 200
    assert retry_response.json() == first_response.json()
    assert len(scripted.calls) == 2
    assert [task["title"] for task in listed] == ["Buy milk"]


# --- what is stored ------------------------------------------------------------------------


def test_stored_tool_calls_keep_what_replay_needs(client, model, headers):
    model.extend([[ADD_MILK], [assistant_message("Added.")]])
    conversation_id = chat(client, headers, "add buy milk").json()["conversation_id"]
    with Session(get_engine()) as session:
        stored = session.exec(
            select(Message).where(
                Message.conversation_id == conversation_id, Message.role == "assistant"
            )
        ).one()
        conversation = session.get(Conversation, conversation_id)
    [call] = stored.tool_calls
    assert call["call_id"] == "call_add"
    assert call["arguments"] == '{"title":"Buy milk"}'
    # Stored once: the output the model saw is rebuilt from the result on replay.
    assert "output" not in call and call["result"]["title"] == "Buy milk"
    assert conversation is not None and conversation.turn_claim is None
