"""The conversations API: list (paginated, newest activity first), messages, delete."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from backend.chat import claims
from backend.db import get_engine, session_scope
from backend.models import Message

TOOL_CALL = {
    "call_id": "call_1",
    "tool": "add_task",
    "parameters": {"title": "Buy milk"},
    "result": {"task_id": 1, "status": "created", "title": "Buy milk"},
    "arguments": '{"title":"Buy milk"}',
    "output": '{"task_id": 1, "status": "created", "title": "Buy milk"}',
}


def add_turn(
    user_id: str,
    message: str,
    conversation_id: int | None = None,
    reply: str = "OK.",
    tool_calls: list | None = None,
) -> int:
    """Store one finished turn the way the chat route does; returns the conversation id."""
    with session_scope() as session:
        turn = claims.claim_turn(
            session=session,
            user_id=user_id,
            conversation_id=conversation_id,
            first_message=message,
            history_limit=50,
            claim_seconds=60,
        )
        claims.record_turn(
            session=session,
            user_id=user_id,
            turn=turn,
            user_message=message,
            reply=reply,
            tool_calls=tool_calls or [],
        )
        session.commit()
    return turn.conversation_id


def listing(client, headers, **params) -> dict:
    response = client.get("/api/alice/conversations", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_no_conversations_yet(client, auth_headers):
    assert listing(client, auth_headers("alice")) == {
        "items": [],
        "total": 0,
        "page": 1,
        "per_page": 20,
    }


def test_conversations_are_paginated_newest_activity_first(client, auth_headers):
    headers = auth_headers("alice")
    ids = [add_turn("alice", f"conversation {n}") for n in range(5)]
    add_turn("alice", "a second turn", ids[1])  # the oldest-but-one is now the most recent

    expected = [ids[1], ids[4], ids[3], ids[2], ids[0]]
    pages = [listing(client, headers, page=page, per_page=2) for page in (1, 2, 3, 4)]
    assert [[item["id"] for item in page["items"]] for page in pages] == [
        expected[0:2],
        expected[2:4],
        expected[4:5],
        [],
    ]
    assert all(page["total"] == 5 and page["per_page"] == 2 for page in pages)
    assert [page["page"] for page in pages] == [1, 2, 3, 4]

    first = pages[0]["items"][0]
    assert set(first) == {"id", "title", "created_at", "updated_at", "message_count"}
    assert first["title"] == "conversation 1"
    assert first["message_count"] == 4
    assert first["updated_at"] > first["created_at"]
    assert pages[0]["items"][1]["message_count"] == 2


@pytest.mark.parametrize("params", [{"page": 0}, {"per_page": 0}, {"per_page": 101}, {"page": "x"}])
def test_bad_page_parameters_are_422(client, auth_headers, params):
    response = client.get("/api/alice/conversations", params=params, headers=auth_headers("alice"))
    assert response.status_code == 422


def test_messages_come_in_order_with_each_turns_tool_calls(client, auth_headers):
    conversation_id = add_turn("alice", "add buy milk", reply="Added.", tool_calls=[TOOL_CALL])
    add_turn("alice", "thanks", conversation_id, reply="You're welcome.")

    response = client.get(
        f"/api/alice/conversations/{conversation_id}/messages", headers=auth_headers("alice")
    )
    assert response.status_code == 200
    stored = response.json()
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "add buy milk"),
        ("assistant", "Added."),
        ("user", "thanks"),
        ("assistant", "You're welcome."),
    ]
    assert [m["id"] for m in stored] == sorted(m["id"] for m in stored)
    assert set(stored[0]) == {"id", "role", "content", "created_at", "tool_calls"}
    # The public shape only: the model-replay fields stay inside.
    assert stored[1]["tool_calls"] == [
        {
            "tool": "add_task",
            "parameters": {"title": "Buy milk"},
            "result": {"task_id": 1, "status": "created", "title": "Buy milk"},
        }
    ]
    assert stored[0]["tool_calls"] == stored[3]["tool_calls"] == []


def _message_rows(conversation_id: int) -> int:
    with Session(get_engine()) as session:
        return session.exec(
            select(func.count()).where(Message.conversation_id == conversation_id)
        ).one()


def test_delete_removes_the_conversation_and_its_messages(client, auth_headers):
    headers = auth_headers("alice")
    kept = add_turn("alice", "keep me")
    doomed = add_turn("alice", "delete me", tool_calls=[TOOL_CALL])
    add_turn("alice", "more", doomed)
    assert _message_rows(doomed) == 4

    response = client.delete(f"/api/alice/conversations/{doomed}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert _message_rows(doomed) == 0
    assert [item["id"] for item in listing(client, headers)["items"]] == [kept]
    assert (
        client.get(f"/api/alice/conversations/{doomed}/messages", headers=headers).status_code
        == 404
    )
    assert client.delete(f"/api/alice/conversations/{doomed}", headers=headers).status_code == 404


def test_users_never_see_each_others_conversations(client, auth_headers):
    alices = add_turn("alice", "alice's secret plan")
    add_turn("bob", "bob's list")
    bob = auth_headers("bob")

    listed = client.get("/api/bob/conversations", headers=bob).json()
    assert [item["title"] for item in listed["items"]] == ["bob's list"]
    assert listed["total"] == 1
    for method, path in [
        ("GET", f"/api/bob/conversations/{alices}/messages"),
        ("DELETE", f"/api/bob/conversations/{alices}"),
    ]:
        response = client.request(method, path, headers=bob)
        assert response.status_code == 404
        assert response.json() == {"detail": "Conversation not found"}
    assert _message_rows(alices) == 2


def test_the_conversations_api_needs_the_callers_own_token(client, auth_headers):
    conversation_id = add_turn("alice", "hello")
    for method, path in [
        ("GET", "/api/alice/conversations"),
        ("GET", f"/api/alice/conversations/{conversation_id}/messages"),
        ("DELETE", f"/api/alice/conversations/{conversation_id}"),
    ]:
        assert client.request(method, path).status_code == 401
        assert client.request(method, path, headers=auth_headers("bob")).status_code == 403
    assert _message_rows(conversation_id) == 2
