"""Idempotency on the real processes, with a slow model (the loopback fake OpenAI server): a
retried chat request with the same Idempotency-Key gets the first answer and runs no tool twice,
also while the first is still running, also on the other API replica and on the streaming route.

`tests/test_chat_turn.py` and `tests/test_chat_stream.py` test the same rules in process.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.fake_openai import FakeOpenAI
from tests.support.sse import sse_events
from tests.support.stack import Stack, stack
from tests.support.tokens import bearer

RETRIES = 4


@pytest.fixture
def slow_model() -> Iterator[FakeOpenAI]:
    # Each model call takes 0.6 s; a turn is two calls (add_task, then a reply).
    with FakeOpenAI.running(delay=0.6) as fake:
        yield fake


async def _first_and_retries(services: Stack, fake: FakeOpenAI, user: str, key: str) -> tuple:
    headers = {**bearer(user), "Idempotency-Key": key}
    body = chat_body("buy oat milk")

    async def post(api: int, path: str = "chat"):
        async with services.async_client(api, timeout=60) as client:
            return await client.post(f"/api/{user}/{path}", json=body, headers=headers)

    first = asyncio.create_task(post(0))
    # The first is running once the model has its first call (the key was claimed before it);
    # a fixed sleep instead let a retry, on a loaded machine, claim the key first.
    deadline = asyncio.get_running_loop().time() + 30
    while not fake.requests:
        assert asyncio.get_running_loop().time() < deadline, "the first turn did not start"
        assert not first.done(), first.result()
        await asyncio.sleep(0.01)
    retries = await asyncio.gather(*(post(n % 2) for n in range(RETRIES)), post(1, "chat/stream"))
    late = await post(1)  # after the first finished
    return await first, retries, late


def test_retries_get_the_first_answer_and_tools_run_once(
    database_url: str, tmp_path, slow_model: FakeOpenAI
) -> None:
    env = {
        "MODEL": "fake-model",
        "OPENAI_BASE_URL": slow_model.base_url,
        "OPENAI_API_KEY": "sk-test",
        "CHAT_RATE_LIMIT": "0",
    }
    user, key = "retrier", uuid.uuid4().hex
    with stack(database_url, tmp_path, apis=2, mcps=1, **env) as services:
        first, retries, late = asyncio.run(_first_and_retries(services, slow_model, user, key))
        *plain, streamed = retries
        with services.client() as client:
            tasks = client.get(f"/api/{user}/tasks", headers=bearer(user)).json()
            conversations = client.get(f"/api/{user}/conversations", headers=bearer(user)).json()
    figures.count("idempotency: chat requests sent", RETRIES + 3)
    assert first.status_code == 200, first.text
    for retry in [*plain, late]:
        assert (retry.status_code, retry.json()) == (200, first.json())
    assert late.headers["Idempotent-Replayed"] == "true"
    assert streamed.headers["Idempotent-Replayed"] == "true"  # the stream replayed it too
    done = sse_events(streamed.text)[-2]
    assert done == {"type": "done", **first.json()}
    assert [t["title"] for t in tasks] == ["buy oat milk"]  # the tool ran once
    assert len(slow_model.requests) == 2  # one turn's model calls, no more
    assert conversations["total"] == 1 and conversations["items"][0]["message_count"] == 2
