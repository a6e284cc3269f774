"""A normal stop (SIGTERM: a deploy, `docker stop`, Ctrl-C of `serve`) loses no turn (issue 16, 3).

Turns in flight when the API gets SIGTERM: connected ones finish and answer, ones whose client
went away finish and are stored; with a grace period too short for them, they are cut off,
stored as cut off (with the tool calls that ran) and logged. The fake model takes a second per
call, and a turn is two calls (the tool call, then the reply).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.fake_openai import FakeOpenAI
from tests.support.stack import Stack, stack
from tests.support.tokens import bearer

CONNECTED = 3
DISCONNECTED = 3


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.running(delay=1.0) as server:
        yield server


def _env(fake: FakeOpenAI, grace: int) -> dict[str, str]:
    return fake.service_env(CHAT_RATE_LIMIT="0", SHUTDOWN_GRACE_SECONDS=str(grace))


def _wait_for(condition, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _start_turns(
    services: Stack, fake: FakeOpenAI, connected_turns: int = CONNECTED
) -> tuple[list[threading.Thread], dict]:
    """CONNECTED turns that wait for their answer, DISCONNECTED that hang up after "start"."""
    answers: dict[str, httpx.Response] = {}

    def connected(n: int) -> None:
        user = f"waiting-{n}"
        answers[user] = httpx.post(
            f"{services.api.url}/api/{user}/chat",
            json=chat_body(f"buy item {n}"),
            headers=bearer(user),
            timeout=60,
        )

    def disconnected(n: int) -> None:
        user = f"gone-{n}"
        with httpx.stream(
            "POST",
            f"{services.api.url}/api/{user}/chat/stream",
            json=chat_body(f"buy item {n}"),
            headers=bearer(user),
            timeout=60,
        ) as response:
            for line in response.iter_lines():
                if '"start"' in line:
                    return  # hang up: the turn goes on without a listener

    threads = [threading.Thread(target=connected, args=(n,)) for n in range(connected_turns)]
    threads += [threading.Thread(target=disconnected, args=(n,)) for n in range(DISCONNECTED)]
    for thread in threads:
        thread.start()
    # Every turn is in its first model call: it has started and nothing is stored yet.
    _wait_for(lambda: len(fake.requests) >= len(threads))
    return threads, answers


def _sigterm_and_restart(services: Stack, threads: list[threading.Thread]) -> str:
    """SIGTERM the API (it returns once the process has exited), let the clients finish, start
    it again; the stopped process's log."""
    services.api.stop(sig=signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    log = services.api.log()
    services.api.start()
    return log


def _history(client: httpx.Client, user: str) -> list[tuple[str, str]]:
    listed = client.get(f"/api/{user}/conversations", headers=bearer(user)).json()["items"]
    stored = []
    for conversation in listed:
        messages = client.get(
            f"/api/{user}/conversations/{conversation['id']}/messages", headers=bearer(user)
        ).json()
        stored += [(m["role"], m["content"]) for m in messages]
    return stored


def _users() -> list[str]:
    return [f"waiting-{n}" for n in range(CONNECTED)] + [f"gone-{n}" for n in range(DISCONNECTED)]


def test_sigterm_lets_running_turns_finish_and_stores_them(
    database_url: str, tmp_path, fake: FakeOpenAI
) -> None:
    with stack(database_url, tmp_path, **_env(fake, grace=8)) as services:
        threads, answers = _start_turns(services, fake)
        log = _sigterm_and_restart(services, threads)
        with services.client() as client:
            for user in _users():
                history = _history(client, user)
                assert [role for role, _ in history] == ["user", "assistant"], (user, history)
                assert history[1][1].startswith("Done."), (user, history)  # the real reply
                tasks = client.get(f"/api/{user}/tasks", headers=bearer(user)).json()
                assert len(tasks) == 1, (user, tasks)
    figures.count("shutdown: turns in flight at SIGTERM", CONNECTED + DISCONNECTED)
    assert {response.status_code for response in answers.values()} == {200}
    assert len(answers) == CONNECTED
    assert "Traceback" not in log


def test_sigterm_with_only_disconnected_turns_still_waits_for_them(
    sqlite_url: str, tmp_path, fake: FakeOpenAI
) -> None:
    # No connection is open, so uvicorn has nothing to wait for: the turns used to be
    # cancelled the moment the server stopped.
    with stack(sqlite_url, tmp_path, **_env(fake, grace=8)) as services:
        threads, answers = _start_turns(services, fake, connected_turns=0)
        log = _sigterm_and_restart(services, threads)
        with services.client() as client:
            for user in _users()[CONNECTED:]:
                history = _history(client, user)
                assert [role for role, _ in history] == ["user", "assistant"], (user, history)
                assert history[1][1].startswith("Done."), (user, history)
    assert answers == {}
    assert "waiting for running chat turns" in log and "all chat turns finished" in log


def test_turns_cut_off_by_the_grace_period_are_stored_as_such_and_logged(
    sqlite_url: str, tmp_path, fake: FakeOpenAI
) -> None:
    fake.delay = 4.0  # longer than the grace period: the turns cannot finish
    with stack(sqlite_url, tmp_path, **_env(fake, grace=1)) as services:
        threads, _ = _start_turns(services, fake)
        _wait_for(lambda: len(fake.requests) >= 2 * (CONNECTED + DISCONNECTED), timeout=30)
        log = _sigterm_and_restart(services, threads)  # the tool calls ran; the replies are pending
        with services.client() as client:
            for user in _users():
                history = _history(client, user)
                assert [role for role, _ in history] == ["user", "assistant"], (user, history)
                assert "server stopped" in history[1][1], (user, history)
                conversations = client.get(
                    f"/api/{user}/conversations", headers=bearer(user)
                ).json()["items"]
                messages = client.get(
                    f"/api/{user}/conversations/{conversations[0]['id']}/messages",
                    headers=bearer(user),
                ).json()
                assert [call["tool"] for call in messages[1]["tool_calls"]] == ["add_task"]
                assert len(client.get(f"/api/{user}/tasks", headers=bearer(user)).json()) == 1
    assert "cutting them off" in log
    assert "chat turn cut off before it finished" in log
