"""Load on the real processes: 100 concurrent chat sessions of 5 turns each (offline model, real
API and MCP processes, one database; 30 on SQLite), and many requests racing in one conversation.

Documented behaviour for the race (DESIGN.md, backend/chat/store.py): a turn claims its
conversation; a second turn arriving meanwhile gets 409 with Retry-After. So every answer is a
200 or a 409, and the history holds exactly the 200 turns, each as a user/assistant pair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.stack import Stack, stack
from tests.support.tokens import bearer

SESSIONS = 100
# SQLite serializes writers (the API and the MCP process share one file). With 100 concurrent
# writers on a busy 2-core machine its busy-wait starves some of them past the 30 s pool timeout
# (a 503, "the reply was not saved"); the embedded default is for one person, so it gets 30.
SQLITE_SESSIONS = 30
RACERS = 12


@pytest.fixture(scope="module")
def services(chat_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(chat_database, tmp_path_factory.mktemp("load"), CHAT_RATE_LIMIT="0") as running:
        yield running


async def _session(client: httpx.AsyncClient, n: int, run: str) -> dict:
    """Five turns in one conversation: add three tasks, complete the first, list them."""
    user = f"load-{run}-{n}"
    headers = bearer(user)
    titles = [f"errand {n}-{k}" for k in range(3)]
    sent, answers = [], []
    conversation_id = None

    async def say(message: str) -> dict:
        nonlocal conversation_id
        response = await client.post(
            f"/api/{user}/chat", json=chat_body(message, conversation_id), headers=headers
        )
        figures.count("load: chat requests sent")
        if response.status_code != 200:
            figures.count("load: failed requests")
        assert response.status_code == 200, response.text
        body = response.json()
        conversation_id = body["conversation_id"]
        sent.append(message)
        answers.append(body)
        return body

    added = [await say(f"add {title}") for title in titles]
    first_id = added[0]["tool_calls"][0]["result"]["task_id"]
    await say(f"complete task {first_id}")
    await say("show my tasks")
    tasks = (await client.get(f"/api/{user}/tasks", headers=headers)).json()
    stored = (
        await client.get(f"/api/{user}/conversations/{conversation_id}/messages", headers=headers)
    ).json()
    listed = (await client.get(f"/api/{user}/conversations", headers=headers)).json()
    return {
        "titles": titles,
        "sent": sent,
        "answers": answers,
        "tasks": tasks,
        "stored": stored,
        "conversations": listed["total"],
    }


def _check(result: dict) -> tuple[int, int]:
    """Lost and duplicated records of one session."""
    tasks, stored, sent = result["tasks"], result["stored"], result["sent"]
    expected_tasks = [
        (title.capitalize(), index == 0) for index, title in enumerate(result["titles"])
    ]
    found_tasks = [(task["title"], task["completed"]) for task in tasks]
    expected_messages = [m for message in sent for m in (("user", message), ("assistant", None))]
    found_messages = [(m["role"], m["content"] if m["role"] == "user" else None) for m in stored]
    lost = len(set(expected_tasks) - set(found_tasks)) + len(
        [m for m in expected_messages if m not in found_messages]
    )
    duplicated = (len(found_tasks) - len(set(found_tasks))) + max(
        0, len(found_messages) - len(expected_messages)
    )
    assert found_tasks == expected_tasks
    assert found_messages == expected_messages  # all there, once each, in order
    assert [m["id"] for m in stored] == sorted(m["id"] for m in stored)
    assert [m["content"] for m in stored if m["role"] == "assistant"] == [
        answer["response"] for answer in result["answers"]
    ]
    assert result["conversations"] == 1
    return lost, duplicated


async def _many_sessions(services: Stack, run: str, sessions: int) -> list[dict]:
    # Idle connections are dropped by the client before uvicorn's 5 s keep-alive timeout closes
    # them: otherwise a request can race the server's close and fail with a ReadError.
    limits = httpx.Limits(
        max_connections=SESSIONS, max_keepalive_connections=SESSIONS, keepalive_expiry=2
    )
    async with services.async_client(timeout=120, limits=limits) as client:
        return await asyncio.wait_for(
            asyncio.gather(*(_session(client, n, run) for n in range(sessions))), timeout=300
        )


def test_a_hundred_concurrent_sessions_lose_and_duplicate_nothing(
    services: Stack, chat_database: str
) -> None:
    run = "sqlite" if chat_database.startswith("sqlite") else "pg"
    sessions = SQLITE_SESSIONS if run == "sqlite" else SESSIONS
    results = asyncio.run(_many_sessions(services, run, sessions))
    lost = duplicated = 0
    for result in results:
        session_lost, session_duplicated = _check(result)
        lost, duplicated = lost + session_lost, duplicated + session_duplicated
    figures.count("load: lost records", lost)
    figures.count("load: duplicated records", duplicated)
    assert (lost, duplicated) == (0, 0)
    assert len(results) == sessions
    assert "Traceback" not in services.logs() and '"level": "error"' not in services.logs()


async def _race(services: Stack, user: str) -> tuple[list[int], list[dict], list[dict]]:
    headers = bearer(user)
    async with services.async_client(timeout=60) as client:
        opened = await client.post(f"/api/{user}/chat", json={"message": "hello"}, headers=headers)
        conversation_id = opened.json()["conversation_id"]
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/api/{user}/chat",
                    json=chat_body(f"add racer {n}", conversation_id),
                    headers=headers,
                )
                for n in range(RACERS)
            )
        )
        stored = (
            await client.get(
                f"/api/{user}/conversations/{conversation_id}/messages", headers=headers
            )
        ).json()
        tasks = (await client.get(f"/api/{user}/tasks", headers=headers)).json()
    figures.count("race: chat requests sent", RACERS + 1)
    unexpected = [a.text for a in answers if a.status_code not in (200, 409)]
    assert opened.status_code == 200 and not unexpected, (opened.text, unexpected)
    return [answer.status_code for answer in answers], stored, tasks


def test_turns_racing_in_one_conversation_are_409_or_whole_never_interleaved(
    services: Stack,
) -> None:
    codes, stored, tasks = asyncio.run(_race(services, "racer"))
    assert set(codes) <= {200, 409} and 200 in codes
    figures.count("race: 409 answers", codes.count(409))
    # The history: "hello" and its reply, then one whole user/assistant pair per accepted turn.
    roles = [m["role"] for m in stored]
    assert roles == ["user", "assistant"] * (1 + codes.count(200))
    for user_message, reply in zip(stored[2::2], stored[3::2], strict=True):
        racer = user_message["content"].removeprefix("add ")
        [call] = reply["tool_calls"]
        assert call["result"]["title"].lower() == racer
    assert sorted(t["title"].lower() for t in tasks) == sorted(
        m["content"].removeprefix("add ") for m in stored[2::2]
    )
