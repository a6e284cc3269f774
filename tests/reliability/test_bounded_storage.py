"""Bounded storage and reads (issue 16, 6): a "show all my tasks" over 500 tasks of 1 kB each
used to store 0.79 MB per turn (each result twice, and again in the idempotent answer), and one
unpaginated GET .../messages returned all of it.
"""

from __future__ import annotations

import json
import re
import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.chat.history import MAX_STORED_RESULT_CHARS, ToolCallRecord, bounded_result
from backend.db import get_engine
from backend.models import IdempotentRequest, Message, Task
from tests.support.tokens import bearer

USER = "hoarder"


def _add_tasks(count: int, size: int) -> None:
    with Session(get_engine()) as session:
        for n in range(count):
            session.add(Task(user_id=USER, title=f"task {n}", description="d" * size))
        session.commit()


def test_show_all_tasks_over_500_long_tasks_stores_a_bounded_turn(client: TestClient) -> None:
    _add_tasks(500, 1000)
    key = uuid.uuid4().hex
    answer = client.post(
        f"/api/{USER}/chat",
        json={"message": "show all my tasks"},
        headers={**bearer(USER), "Idempotency-Key": key},
    )
    assert answer.status_code == 200, answer.text
    (call,) = answer.json()["tool_calls"]
    assert call["tool"] == "list_tasks" and len(call["result"]["tasks"]) == 500  # answered whole
    with Session(get_engine()) as session:
        stored = session.exec(select(Message).where(Message.user_id == USER)).all()
        idempotent = session.exec(
            select(IdempotentRequest).where(IdempotentRequest.user_id == USER)
        ).one()
    # The reply text is the answer itself and is kept whole; the tool results are bounded.
    calls_bytes = sum(len(json.dumps(m.tool_calls)) for m in stored)
    answer_calls_bytes = len(json.dumps(idempotent.response["body"]["tool_calls"]))
    assert calls_bytes < MAX_STORED_RESULT_CHARS + 1000, calls_bytes
    assert answer_calls_bytes < MAX_STORED_RESULT_CHARS + 1000, answer_calls_bytes
    (kept,) = [c for m in stored for c in m.tool_calls]
    assert "output" not in kept  # the result once, not twice
    assert kept["result"]["omitted"] == 500 - len(kept["result"]["tasks"]) > 0


def test_a_bounded_result_keeps_what_fits_and_says_what_it_cut() -> None:
    items = [{"id": n, "title": "t" * 100} for n in range(1000)]
    cut = bounded_result({"tasks": items, "count": 1000}, limit=5000)
    assert len(json.dumps(cut)) <= 5000
    assert cut["tasks"] == items[: len(cut["tasks"])] and cut["count"] == 1000
    assert cut["omitted"] == 1000 - len(cut["tasks"])
    small = {"task_id": 1, "status": "created"}
    assert bounded_result(small) is small
    text = bounded_result("x" * 50_000, limit=1000)
    assert text["truncated"] is True and len(text["preview"]) <= 1000
    record = ToolCallRecord("c1", "add_task", {}, small, "{}", json.dumps(small))
    assert "output" not in record.stored()  # replay rebuilds it exactly
    odd = ToolCallRecord("c2", "add_task", {}, small, "{}", "plain text the model saw")
    assert odd.stored()["output"] == "plain text the model saw"


def _add_messages(client: TestClient, count: int) -> int:
    created = client.post(f"/api/{USER}/chat", json={"message": "hi"}, headers=bearer(USER))
    conversation_id = created.json()["conversation_id"]
    with Session(get_engine()) as session:
        for n in range(count):
            role = "user" if n % 2 == 0 else "assistant"
            session.add(
                Message(conversation_id=conversation_id, user_id=USER, role=role, content=f"m{n}")
            )
        session.commit()
    return conversation_id


def test_messages_are_read_a_page_at_a_time(client: TestClient) -> None:
    conversation_id = _add_messages(client, 248)  # + the first turn's 2 = 250
    url = f"/api/{USER}/conversations/{conversation_id}/messages"
    pages = []
    next_url: str | None = url
    while next_url is not None:
        answer = client.get(next_url, headers=bearer(USER))
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        link = answer.headers.get("link")
        match = re.match(r'<([^>]+)>; rel="next"', link) if link else None
        next_url = match.group(1) if match else None
    assert [len(page) for page in pages] == [100, 100, 50]
    ordered = [m for page in reversed(pages) for m in page]
    assert [m["id"] for m in ordered] == sorted(m["id"] for m in ordered)
    assert [m["content"] for m in ordered[2:]] == [f"m{n}" for n in range(248)]
    small = client.get(url, params={"limit": 10}, headers=bearer(USER))
    assert [m["content"] for m in small.json()] == [f"m{n}" for n in range(238, 248)]
    assert client.get(url, params={"limit": 201}, headers=bearer(USER)).status_code == 422
