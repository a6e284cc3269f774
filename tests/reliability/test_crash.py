"""The API killed with SIGKILL in the middle of a turn, after its tool ran (issue 16, 2).

The conversation must accept a new turn within seconds of the restart (the dead turn's claim was
a 120 s lock, with a Retry-After of 2 that never came true); the history must show the tool call
that ran; the same request retried with its Idempotency-Key must not run the tool again; and the
conversation can be deleted.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.fake_openai import FakeOpenAI
from tests.support.stack import Stack, stack
from tests.support.tokens import bearer

USER = "crashed"
ACCEPT_WITHIN_SECONDS = 30.0  # bounds the test; the claim used to stay taken for 120 s


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    # Each model call takes a second: time to kill the API while it waits for the reply.
    with FakeOpenAI.running(delay=1.0) as server:
        yield server


def _wait_for(condition, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _kill_after_the_tool_ran(services: Stack, fake: FakeOpenAI, body: dict, key: str) -> None:
    """Send the turn, and SIGKILL the API once the model was sent the tool's result."""
    headers = {**bearer(USER), "Idempotency-Key": key}
    before = len(fake.requests)

    def send() -> None:
        try:
            httpx.post(
                f"{services.api.url}/api/{USER}/chat", json=body, headers=headers, timeout=30
            )
        except httpx.HTTPError:
            pass  # the server dies under it

    turn = threading.Thread(target=send)
    turn.start()
    _wait_for(lambda: len(fake.requests) >= before + 2)  # the second model call carries the result
    services.api.stop(sig=9)
    turn.join(30)


def _titles(client: httpx.Client) -> list[str]:
    return [task["title"] for task in client.get(f"/api/{USER}/tasks", headers=bearer(USER)).json()]


def test_a_conversation_whose_turn_died_works_again_within_seconds(
    database_url: str, tmp_path, fake: FakeOpenAI
) -> None:
    with stack(database_url, tmp_path, **fake.service_env(CHAT_RATE_LIMIT="0")) as services:
        with services.client() as client:
            first = client.post(
                f"/api/{USER}/chat", json=chat_body("buy milk"), headers=bearer(USER)
            )
            assert first.status_code == 200, first.text
            conversation_id = first.json()["conversation_id"]
        body = chat_body("water the plants", conversation_id)
        key = uuid.uuid4().hex
        _kill_after_the_tool_ran(services, fake, body, key)
        services.api.start()
        restarted = time.monotonic()
        with services.client() as client:
            assert sorted(_titles(client)) == ["buy milk", "water the plants"]

            # A new turn in that conversation: 409 while the dead claim lasts, each Retry-After
            # a true estimate (waiting it out is enough), then it is accepted.
            attempts = 0
            while True:
                attempts += 1
                again = client.post(
                    f"/api/{USER}/chat",
                    json=chat_body("call mom", conversation_id),
                    headers=bearer(USER),
                )
                if again.status_code != 409:
                    break
                wait = int(again.headers["retry-after"])
                assert time.monotonic() + wait - restarted < ACCEPT_WITHIN_SECONDS, wait
                time.sleep(wait)
                assert attempts <= 3, "Retry-After said less than the claim had left"
            accepted_after = time.monotonic() - restarted
            assert again.status_code == 200, again.text
            engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
            figures.count(
                f"crash {engine}: seconds until the conversation accepts a turn",
                math.ceil(accepted_after),
            )

            # The history shows what ran in the dead turn: its message and its tool call.
            stored = client.get(
                f"/api/{USER}/conversations/{conversation_id}/messages", headers=bearer(USER)
            ).json()
            stored = stored["items"] if isinstance(stored, dict) else stored
            users = [m["content"] for m in stored if m["role"] == "user"]
            assert users == ["buy milk", "water the plants", "call mom"], users
            calls = [c for m in stored for c in m["tool_calls"]]
            assert [c["parameters"].get("title") for c in calls if c["tool"] == "add_task"] == [
                "buy milk",
                "water the plants",
                "call mom",
            ]

            # The dead request retried with its key: the tool does not run a second time.
            retried = client.post(
                f"/api/{USER}/chat", json=body, headers={**bearer(USER), "Idempotency-Key": key}
            )
            assert retried.status_code in (200, 503), retried.text
            assert retried.headers["Idempotent-Replayed"] == "true"  # final: stop retrying it
            assert sorted(_titles(client)) == ["buy milk", "call mom", "water the plants"]
            again_retried = client.post(
                f"/api/{USER}/chat", json=body, headers={**bearer(USER), "Idempotency-Key": key}
            )
            assert (again_retried.status_code, again_retried.json()) == (
                retried.status_code,
                retried.json(),
            )
            assert _titles(client).count("water the plants") == 1


def test_a_conversation_whose_turn_died_can_be_deleted(
    sqlite_url: str, tmp_path, fake: FakeOpenAI
) -> None:
    with stack(sqlite_url, tmp_path, **fake.service_env(CHAT_RATE_LIMIT="0")) as services:
        key = uuid.uuid4().hex
        _kill_after_the_tool_ran(services, fake, chat_body("feed the cat"), key)
        services.api.start()
        restarted = time.monotonic()
        with services.client() as client:
            listed = client.get(f"/api/{USER}/conversations", headers=bearer(USER)).json()
            (conversation,) = listed["items"]
            while True:
                deleted = client.delete(
                    f"/api/{USER}/conversations/{conversation['id']}", headers=bearer(USER)
                )
                if deleted.status_code != 409:
                    break
                wait = int(deleted.headers.get("retry-after", "1"))
                assert time.monotonic() + wait - restarted < ACCEPT_WITHIN_SECONDS
                time.sleep(wait)
            assert deleted.status_code == 204, deleted.text
            assert (
                client.get(f"/api/{USER}/conversations", headers=bearer(USER)).json()["total"] == 0
            )
            # Its idempotent answer went with it: the key starts a fresh request.
            retried = client.post(
                f"/api/{USER}/chat",
                json=chat_body("feed the cat"),
                headers={**bearer(USER), "Idempotency-Key": key},
            )
            assert retried.status_code == 200, retried.text
