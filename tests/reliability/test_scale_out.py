"""Scale-out: two API processes and two MCP processes on one PostgreSQL. A conversation whose
requests alternate between the APIs continues as if one process served it, a restart of any
process mid-conversation loses nothing, and with REDIS_URL the chat rate limit is one count
across the replicas (`tests/test_ratelimit.py` checks the limiter itself)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.stack import Stack, stack
from tests.support.tokens import bearer

REDIS_URL = "redis://127.0.0.1:6379/13"


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


@pytest.fixture(scope="module")
def replicas(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("replicas")
    with stack(postgres_url, folder, apis=2, mcps=2, CHAT_RATE_LIMIT="0") as running:
        yield running


def test_a_conversation_alternating_between_replicas_and_restarts_loses_nothing(
    replicas: Stack,
) -> None:
    user = f"scale-{uuid.uuid4().hex[:8]}"
    headers = bearer(user)
    conversation_id = None
    replies = []

    def say(message: str, api: int) -> dict:
        nonlocal conversation_id
        with replicas.client(api) as client:
            response = client.post(
                f"/api/{user}/chat", json=chat_body(message, conversation_id), headers=headers
            )
        figures.count("scale-out: chat requests sent")
        assert response.status_code == 200, response.text
        conversation_id = response.json()["conversation_id"]
        replies.append(response.json())
        return response.json()

    say("add water the plants", 0)
    say("add call the plumber", 1)
    # "it" is the task of the previous turn, served by the other API: history comes from the DB.
    done = say("mark it done", 0)
    assert [
        c["result"].get("title") for c in done["tool_calls"] if c["tool"] == "complete_task"
    ] == ["Call the plumber"]
    replicas.apis[1].stop()  # restart an API and an MCP server mid-conversation
    replicas.mcps[0].stop()
    replicas.apis[1].start()
    replicas.mcps[0].start()
    say("add buy milk", 1)
    say("delete water the plants", 0)
    listed = say("show my tasks", 1)

    with replicas.client(0) as client:
        tasks = client.get(f"/api/{user}/tasks", headers=headers).json()
        stored = client.get(
            f"/api/{user}/conversations/{conversation_id}/messages", headers=headers
        ).json()
    assert [(t["title"], t["completed"]) for t in tasks] == [
        ("Call the plumber", True),
        ("Buy milk", False),
    ]
    assert listed["tool_calls"][-1]["result"]["count"] == 2
    assert [m["content"] for m in stored if m["role"] == "user"] == [
        "add water the plants",
        "add call the plumber",
        "mark it done",
        "add buy milk",
        "delete water the plants",
        "show my tasks",
    ]
    assert [m["content"] for m in stored if m["role"] == "assistant"] == [
        r["response"] for r in replies
    ]


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_the_chat_rate_limit_is_shared_by_the_replicas_through_redis(
    postgres_url: str, tmp_path
) -> None:
    user = f"limited-{uuid.uuid4().hex}"  # a fresh count in Redis
    # The production Redis timeout (0.5 s) makes a slow answer fail open, which on a loaded
    # machine lets a request over the limit through; this test is about the shared count.
    env = {"CHAT_RATE_LIMIT": "3", "REDIS_URL": REDIS_URL, "REDIS_TIMEOUT_SECONDS": "30"}
    with stack(postgres_url, tmp_path, apis=2, mcps=1, **env) as services:
        codes = []
        for n in range(5):
            with services.client(n % 2) as client:
                response = client.post(
                    f"/api/{user}/chat", json=chat_body("hello"), headers=bearer(user)
                )
            codes.append(response.status_code)
            if response.status_code == 429:
                assert 1 <= int(response.headers["retry-after"]) <= 60
        figures.count("scale-out: chat requests sent", 5)
        logs = services.logs()
    assert "rate limit store unreachable" not in logs  # every decision came from Redis
    assert codes == [200, 200, 200, 429, 429]
