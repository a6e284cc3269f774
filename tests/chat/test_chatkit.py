"""POST /chatkit: the ChatKit server protocol, driven with `openai-chatkit`'s own request and
event types, on the real MCP server process and our database (SQLite and PostgreSQL).

The main scenario uses the offline model (the default), which needs the stored history to know
what "it" is; the error paths use a scripted model.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from agents.testing import assistant_message, function_call
from chatkit.actions import Action
from chatkit.types import (
    AssistantMessageItem,
    AttachmentCreateParams,
    AttachmentsCreateReq,
    ErrorEvent,
    InferenceOptions,
    InputTranscribeParams,
    InputTranscribeReq,
    ItemFeedbackParams,
    ItemsFeedbackReq,
    ItemsListParams,
    ItemsListReq,
    Page,
    StreamOptionsEvent,
    TaskItem,
    Thread,
    ThreadAddUserMessageParams,
    ThreadCreatedEvent,
    ThreadCreateParams,
    ThreadCustomActionParams,
    ThreadDeleteParams,
    ThreadGetByIdParams,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadListParams,
    ThreadRetryAfterItemParams,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    ThreadUpdatedEvent,
    ThreadUpdateParams,
    UserMessageInput,
    UserMessageItem,
    UserMessageTextContent,
)
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import update
from sqlmodel import col

from backend.db import session_scope
from backend.models import Conversation, utcnow
from tests.conftest import override_settings
from tests.support.chat import chat, conversations, tasks

EVENTS: TypeAdapter[Any] = TypeAdapter(ThreadStreamEvent)
THREAD_PAGE: TypeAdapter[Page[Thread]] = TypeAdapter(Page[Thread])
ITEM_PAGE: TypeAdapter[Page[ThreadItem]] = TypeAdapter(Page[ThreadItem])


# --- a small ChatKit client --------------------------------------------------------------


def send(client: TestClient, headers: dict[str, str], request: BaseModel) -> httpx.Response:
    return client.post(
        "/chatkit",
        content=request.model_dump_json(),
        headers={**headers, "Content-Type": "application/json"},
    )


def stream(client: TestClient, headers: dict[str, str], request: BaseModel) -> list[Any]:
    """A streaming request's events, parsed with ChatKit's ThreadStreamEvent union."""
    response = send(client, headers, request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [
        EVENTS.validate_json(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def user_input(text: str) -> UserMessageInput:
    return UserMessageInput(
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def create(text: str) -> ThreadsCreateReq:
    return ThreadsCreateReq(params=ThreadCreateParams(input=user_input(text)))


def add_message(thread_id: str, text: str) -> ThreadsAddUserMessageReq:
    return ThreadsAddUserMessageReq(
        params=ThreadAddUserMessageParams(thread_id=thread_id, input=user_input(text))
    )


def get_thread(client: TestClient, headers: dict[str, str], thread_id: str) -> Thread:
    response = send(
        client, headers, ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id))
    )
    assert response.status_code == 200, response.text
    return Thread.model_validate_json(response.content)


def list_items(
    client: TestClient, headers: dict[str, str], thread_id: str, **params: Any
) -> Page[ThreadItem]:
    request = ItemsListReq(params=ItemsListParams(thread_id=thread_id, **params))
    response = send(client, headers, request)
    assert response.status_code == 200, response.text
    return ITEM_PAGE.validate_json(response.content)


def list_threads(client: TestClient, headers: dict[str, str], **params: Any) -> Page[Thread]:
    response = send(client, headers, ThreadsListReq(params=ThreadListParams(**params)))
    assert response.status_code == 200, response.text
    return THREAD_PAGE.validate_json(response.content)


def created_thread(events: list[Any]) -> Thread:
    [event] = [event for event in events if isinstance(event, ThreadCreatedEvent)]
    return event.thread


def client_items(events: list[Any]) -> list[ThreadItem]:
    """The items a ChatKit client holds after the stream: `thread.item.done` adds (or updates)
    an item, `thread.item.removed` removes it."""
    items: dict[str, ThreadItem] = {}
    for event in events:
        if isinstance(event, ThreadItemDoneEvent):
            items[event.item.id] = event.item
        elif isinstance(event, ThreadItemRemovedEvent):
            items.pop(event.item_id, None)
    return list(items.values())


def done_items(events: list[Any], kind: type) -> list[Any]:
    return [item for item in client_items(events) if isinstance(item, kind)]


def reply_text(events: list[Any]) -> str:
    [reply] = done_items(events, AssistantMessageItem)
    return "".join(part.text for part in reply.content)


def errors(events: list[Any]) -> list[ErrorEvent]:
    return [event for event in events if isinstance(event, ErrorEvent)]


# --- the conversation ------------------------------------------------------------------------


def test_a_thread_adds_a_task_and_completes_it_from_the_stored_history(client, headers):
    first = stream(client, headers, create("add buy milk"))

    thread = created_thread(first)
    assert errors(first) == []
    [user_message] = done_items(first, UserMessageItem)
    assert user_message.content[0].text == "add buy milk"
    [added] = done_items(first, TaskItem)
    assert added.task.title.startswith("add_task(") and "buy milk" in added.task.title.lower()
    assert '"status": "created"' in added.task.content
    assert reply_text(first)
    assert any(isinstance(event, StreamOptionsEvent) for event in first)
    [milk] = tasks(client, headers)
    assert milk["title"].lower() == "buy milk" and milk["completed"] is False

    second = stream(client, headers, add_message(thread.id, "mark it as done"))

    assert errors(second) == []
    task_titles = [item.task.title for item in done_items(second, TaskItem)]
    assert any(title.startswith("complete_task(") for title in task_titles), task_titles
    [milk] = tasks(client, headers)
    assert milk["completed"] is True


def test_the_reply_streams_as_deltas_of_one_assistant_message(client, model, headers):
    model.extend([[assistant_message("Hello there.")]])

    events = stream(client, headers, create("hi"))

    [added] = [e for e in events if isinstance(e, ThreadItemAddedEvent)]
    deltas = [e for e in events if isinstance(e, ThreadItemUpdatedEvent)]
    assert isinstance(added.item, AssistantMessageItem)
    assert "".join(event.update.delta for event in deltas) == "Hello there."
    assert {event.item_id for event in deltas} == {added.item.id}
    assert reply_text(events) == "Hello there."


def test_streamed_items_end_with_their_stored_ids_so_a_retry_finds_them(client, model, headers):
    model.extend(
        [
            [function_call("add_task", {"title": "Buy milk"}, call_id="call_add")],
            [assistant_message("Added Buy milk.")],
            [assistant_message("Added it before.")],
        ]
    )
    events = stream(client, headers, create("add buy milk"))
    thread = created_thread(events)

    streamed = [item.id for item in client_items(events)]
    stored = [item.id for item in get_thread(client, headers, thread.id).items.data]
    assert streamed == stored
    assert len(streamed) == 3 and not any("new" in item_id for item_id in streamed)

    retried = stream(
        client,
        headers,
        ThreadsRetryAfterItemReq(
            params=ThreadRetryAfterItemParams(thread_id=thread.id, item_id=streamed[0])
        ),
    )
    assert errors(retried) == []
    assert reply_text(retried) == "Added it before."
    [user_item] = done_items(retried, UserMessageItem)
    assert [item.id for item in get_thread(client, headers, thread.id).items.data] == [
        user_item.id,
        *[item.id for item in done_items(retried, AssistantMessageItem)],
    ]


def test_a_new_thread_gets_its_title_from_the_first_message(client, model, headers):
    model.extend([[assistant_message("Sure.")]])

    events = stream(client, headers, create("plan the garden party"))

    [updated] = [e for e in events if isinstance(e, ThreadUpdatedEvent)]
    assert updated.thread.title == "plan the garden party"
    assert get_thread(client, headers, created_thread(events).id).title == "plan the garden party"


# --- threads are conversations -------------------------------------------------------------


def test_a_chatkit_thread_is_a_conversation_and_the_other_way_round(client, model, headers):
    model.extend(
        [
            [function_call("add_task", {"title": "Buy milk"}, call_id="call_add")],
            [assistant_message("Added Buy milk.")],
            [assistant_message("Hello from /chat.")],
        ]
    )
    thread = created_thread(stream(client, headers, create("add buy milk")))
    via_chat = chat(client, headers, "hello").json()["conversation_id"]

    listed = {item["id"]: item for item in conversations(client, headers)}
    assert listed[int(thread.id)]["title"] == "add buy milk"
    assert listed[int(thread.id)]["message_count"] == 2
    threads = list_threads(client, headers)
    assert [t.id for t in threads.data] == [str(via_chat), thread.id]

    stored = get_thread(client, headers, thread.id)
    kinds = [type(item).__name__ for item in stored.items.data]
    assert kinds == ["UserMessageItem", "TaskItem", "AssistantMessageItem"]
    user_item, task_item, reply_item = stored.items.data
    assert user_item.content[0].text == "add buy milk"
    assert task_item.task.title == 'add_task({"title": "Buy milk"})'
    assert reply_item.content[0].text == "Added Buy milk."
    from_chat = get_thread(client, headers, str(via_chat))
    assert [type(item).__name__ for item in from_chat.items.data] == [
        "UserMessageItem",
        "AssistantMessageItem",
    ]


def test_items_are_paginated_in_both_orders(client, model, headers):
    model.extend(
        [
            [function_call("add_task", {"title": "one"}, call_id="c1")],
            [function_call("add_task", {"title": "two"}, call_id="c2")],
            [assistant_message("Added two.")],
            [assistant_message("Nothing to do.")],
            [function_call("list_tasks", {}, call_id="c3")],
            [assistant_message("Two tasks.")],
        ]
    )
    thread = created_thread(stream(client, headers, create("add one and two")))
    stream(client, headers, add_message(thread.id, "thanks"))
    stream(client, headers, add_message(thread.id, "show my tasks"))
    everything = [
        item.id for item in list_items(client, headers, thread.id, limit=100, order="asc").data
    ]
    assert len(everything) == 9  # user, 2 tool calls, reply; user, reply; user, 1 tool call, reply

    for order, expected in (("asc", everything), ("desc", everything[::-1])):
        seen: list[str] = []
        after = None
        while True:
            page = list_items(client, headers, thread.id, limit=2, order=order, after=after)
            seen.extend(item.id for item in page.data)
            assert len(page.data) <= 2
            if not page.has_more:
                break
            after = page.after
        assert seen == expected, order


def test_threads_are_listed_newest_first_page_by_page(client, model, headers):
    model.extend([[assistant_message(f"Reply {n}.")] for n in range(3)])
    ids = [created_thread(stream(client, headers, create(f"thread {n}"))).id for n in range(3)]

    first = list_threads(client, headers, limit=2)
    second = list_threads(client, headers, limit=2, after=first.after)
    oldest_first = list_threads(client, headers, limit=10, order="asc")

    assert [t.id for t in first.data] == ids[::-1][:2] and first.has_more
    assert [t.id for t in second.data] == ids[:1] and not second.has_more
    assert [t.id for t in oldest_first.data] == ids
    assert [t.title for t in oldest_first.data] == ["thread 0", "thread 1", "thread 2"]


def test_a_thread_can_be_renamed_and_deleted(client, model, headers):
    model.extend([[assistant_message("Hi.")]])
    thread = created_thread(stream(client, headers, create("hello")))

    renamed = send(
        client,
        headers,
        ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread.id, title="Groceries")),
    )
    assert renamed.status_code == 200, renamed.text
    assert Thread.model_validate_json(renamed.content).title == "Groceries"
    assert [c["title"] for c in conversations(client, headers)] == ["Groceries"]

    deleted = send(
        client, headers, ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread.id))
    )
    assert deleted.status_code == 200, deleted.text
    assert conversations(client, headers) == []
    gone = send(client, headers, ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread.id)))
    assert gone.status_code == 404


def test_retry_after_item_runs_the_turn_again_in_place_of_the_old_reply(client, model, headers):
    model.extend([[assistant_message("First answer.")], [assistant_message("Second answer.")]])
    thread = created_thread(stream(client, headers, create("say something")))
    [user_item] = [
        i
        for i in get_thread(client, headers, thread.id).items.data
        if isinstance(i, UserMessageItem)
    ]

    events = stream(
        client,
        headers,
        ThreadsRetryAfterItemReq(
            params=ThreadRetryAfterItemParams(thread_id=thread.id, item_id=user_item.id)
        ),
    )

    assert errors(events) == []
    assert reply_text(events) == "Second answer."
    items = get_thread(client, headers, thread.id).items.data
    assert [(type(i).__name__, (i.content[0].text)) for i in items] == [
        ("UserMessageItem", "say something"),
        ("AssistantMessageItem", "Second answer."),
    ]


def test_an_idempotency_key_replays_the_first_answer_and_runs_the_tools_once(
    client, model, headers
):
    model.extend(
        [
            [function_call("add_task", {"title": "Buy milk"}, call_id="call_add")],
            [assistant_message("Added Buy milk.")],
            [assistant_message("Hello.")],
        ]
    )
    first_key, second_key = (
        {**headers, "Idempotency-Key": "k1"},
        {**headers, "Idempotency-Key": "k2"},
    )

    first = stream(client, first_key, create("add buy milk"))
    again = stream(client, first_key, create("add buy milk"))

    assert created_thread(again).id == created_thread(first).id
    assert reply_text(again) == reply_text(first) == "Added Buy milk."
    assert [item.task.title for item in done_items(again, TaskItem)] == [
        'add_task({"title": "Buy milk"})'
    ]
    assert len(tasks(client, headers)) == 1
    thread_id = created_thread(first).id

    for _ in range(2):
        assert reply_text(stream(client, second_key, add_message(thread_id, "hi"))) == "Hello."
    [conversation] = conversations(client, headers)
    assert conversation["message_count"] == 4
    reused = send(client, second_key, add_message(thread_id, "something else"))
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.json()["detail"]


# --- isolation and errors ------------------------------------------------------------------


def test_another_users_thread_is_not_found(client, model, headers, auth_headers):
    model.extend([[assistant_message("Hi alice.")]])
    thread = created_thread(stream(client, headers, create("alice's secret plans")))
    [user_item] = [
        i
        for i in get_thread(client, headers, thread.id).items.data
        if isinstance(i, UserMessageItem)
    ]
    bob = auth_headers("bob")

    requests: list[BaseModel] = [
        ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread.id)),
        ItemsListReq(params=ItemsListParams(thread_id=thread.id)),
        ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread.id, title="mine now")),
        ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread.id)),
        add_message(thread.id, "hello?"),
        ThreadsRetryAfterItemReq(
            params=ThreadRetryAfterItemParams(thread_id=thread.id, item_id=user_item.id)
        ),
    ]
    for request in requests:
        response = send(client, bob, request)
        assert response.status_code == 404, (request.type, response.text)  # type: ignore[attr-defined]
        assert "secret" not in response.text
    assert list_threads(client, bob).data == []
    assert get_thread(client, headers, thread.id).title == "alice's secret plans"
    assert len(get_thread(client, headers, thread.id).items.data) == 2


@pytest.mark.parametrize("thread_id", ["0", "-1", "abc", "99999999999", "12 ", ""])
def test_a_thread_id_that_cannot_exist_is_not_found(client, headers, thread_id):
    response = send(
        client, headers, ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id))
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"],
    ids=["none", "garbage", "basic"],
)
def test_a_request_without_a_valid_token_is_401(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = send(client, headers, ThreadsListReq(params=ThreadListParams()))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"type": "threads.explode", "params": {}}',
        b'{"type": "threads.create", "params": {}}',
        create("   ").model_dump_json().encode(),
        create("x" * 4001).model_dump_json().encode(),
        ThreadsUpdateReq(params=ThreadUpdateParams(thread_id="1", title=" "))
        .model_dump_json()
        .encode(),
    ],
    ids=["not-json", "unknown-type", "no-input", "blank-message", "long-message", "blank-title"],
)
def test_invalid_requests_are_422_and_create_nothing(client, headers, body):
    if b"threads.update" in body:  # needs a thread to exist, so that the title is what is wrong
        with session_scope() as session:
            session.add(Conversation(id=1, user_id="alice", title="t"))
            session.commit()

    response = client.post(
        "/chatkit", content=body, headers={**headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    assert len(conversations(client, headers)) == (1 if b"threads.update" in body else 0)


def test_unsupported_requests_are_answered_with_chatkits_error_event(client, model, headers):
    model.extend([[assistant_message("Hi.")]])
    thread = created_thread(stream(client, headers, create("hello")))

    streamed = stream(
        client,
        headers,
        ThreadsCustomActionReq(
            params=ThreadCustomActionParams(
                thread_id=thread.id, action=Action(type="approve", payload={})
            )
        ),
    )
    [event] = streamed
    assert isinstance(event, ErrorEvent) and "threads.custom_action" in (event.message or "")

    for request in (
        ItemsFeedbackReq(
            params=ItemFeedbackParams(thread_id=thread.id, item_ids=["msg_1"], kind="positive")
        ),
        AttachmentsCreateReq(
            params=AttachmentCreateParams(name="a.txt", size=1, mime_type="text/plain")
        ),
        InputTranscribeReq(
            params=InputTranscribeParams(audio_base64="AAAA", mime_type="audio/webm")
        ),
    ):
        response = send(client, headers, request)
        assert response.status_code == 400
        error = ErrorEvent.model_validate_json(response.content)
        assert request.type in (error.message or "")  # type: ignore[attr-defined]

    with_attachment = create("look at this")
    with_attachment.params.input.attachments = ["atc_1"]
    [event] = stream(client, headers, with_attachment)
    assert isinstance(event, ErrorEvent) and "attachments" in (event.message or "")


def test_a_model_failure_is_an_error_event_and_stores_nothing(client, model, headers):
    request = httpx.Request("POST", "http://model.invalid/v1/chat/completions")
    model.extend([openai.APIConnectionError(request=request)])
    events = stream(client, headers, create("hello"))

    [error] = errors(events)
    assert error.message == "The model provider could not be reached"
    assert error.allow_retry is True
    created = created_thread(events)
    assert get_thread(client, headers, created.id).items.data == []


def test_a_failure_after_a_tool_ran_streams_the_turn_as_stored(client, model, headers):
    request = httpx.Request("POST", "http://model.invalid/v1/chat/completions")
    model.extend(
        [
            [function_call("add_task", {"title": "Buy milk"}, call_id="call_add")],
            openai.APIConnectionError(request=request),
        ]
    )
    events = stream(client, headers, create("add buy milk"))

    [error] = errors(events)
    assert error.message == "The model provider could not be reached"
    stored = get_thread(client, headers, created_thread(events).id).items.data
    assert [item.id for item in client_items(events)] == [item.id for item in stored]
    assert [type(item).__name__ for item in stored] == [
        "UserMessageItem",
        "TaskItem",
        "AssistantMessageItem",
    ]
    assert "could not finish" in stored[2].content[0].text
    assert [task["title"] for task in tasks(client, headers)] == ["Buy milk"]


def test_a_running_turn_makes_another_message_a_409_and_deletes_nothing(client, model, headers):
    model.extend([[assistant_message("Hi.")]])
    thread = created_thread(stream(client, headers, create("hello")))
    with session_scope() as session:  # another replica is writing a reply right now
        session.exec(
            update(Conversation)
            .where(col(Conversation.id) == int(thread.id))
            .values(turn_claim="other", turn_claim_expires_at=utcnow().replace(year=2100))
        )
        session.commit()

    [user_item] = [
        i
        for i in get_thread(client, headers, thread.id).items.data
        if isinstance(i, UserMessageItem)
    ]
    retry = ThreadsRetryAfterItemReq(
        params=ThreadRetryAfterItemParams(thread_id=thread.id, item_id=user_item.id)
    )
    delete = ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread.id))

    for request in (add_message(thread.id, "are you there?"), retry, delete):
        response = send(client, headers, request)
        assert response.status_code == 409, (request.type, response.text)  # type: ignore[attr-defined]
        assert "still being written" in response.json()["detail"]
        assert response.headers["Retry-After"]
    assert len(get_thread(client, headers, thread.id).items.data) == 2  # the retry deleted nothing


def test_turns_count_against_the_chat_rate_limit(client, model, headers):
    override_settings(client.app, chat_rate_limit=1)
    model.extend([[assistant_message("Hi.")]])
    thread = created_thread(stream(client, headers, create("hello")))

    limited = send(client, headers, add_message(thread.id, "again"))
    listed = send(client, headers, ThreadsListReq(params=ThreadListParams()))

    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert listed.status_code == 200  # reading is not chatting
