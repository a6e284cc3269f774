"""The Stop button in a real browser: the page chats over the WebSocket channel, and Stop ends
a reply whose model call hangs; what ran before is kept and the next message goes through.

The stack's model is the loopback fake OpenAI server: its first answer calls `add_task`, its
second hangs until cancelled, so Stop lands in the middle of a model call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from backend.migrate import upgrade
from tests.browser.conftest import Site
from tests.browser.test_chat_panel import send
from tests.browser.test_tasks_page import sign_in, task_titles
from tests.support.fake_openai import HANG, FakeOpenAI, tool_call
from tests.support.stack import stack as running_stack
from tests.support.tokens import TEST_SECRET
from tests.support.users import random_user


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.running() as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(browser, tmp_path_factory, fake_model) -> Iterator[Site]:
    """Overrides conftest's: the API's model is the fake OpenAI server."""
    root = tmp_path_factory.mktemp("stop-stack")
    database_url = f"sqlite:///{root / 'todo.db'}"
    upgrade(database_url)
    env = {"MODEL": "fake-model", "OPENAI_BASE_URL": fake_model.base_url, "OPENAI_API_KEY": "x"}
    with running_stack(database_url, root, **env) as services:
        yield Site(services.api.url, TEST_SECRET, root / "data", services.api.log)


def test_stop_ends_a_hanging_reply_keeps_the_tool_call_and_the_next_message_works(
    page: Page, stack, fake_model, screenshot
):
    fake_model.reset()
    fake_model.script(tool_call("add_task", {"title": "Buy milk"}), HANG)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    user = random_user()
    sign_in(page, stack, user)

    send(page, "add buy milk, then think for ever")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    reply = page.locator(".message-assistant").last
    expect(reply.locator(".tool-call .tool-name")).to_have_text("add_task")
    expect(task_titles(page)).to_have_text(["Buy milk"])
    screenshot(page, "08-chat-stop-while-running")
    stop.click()

    expect(reply.locator(".message-text")).to_have_text(
        'Stopped. Done before stopping: add_task {"title": "Buy milk"}.'
    )
    expect(reply).to_have_class(re.compile("is-stopped"))
    expect(stop).to_be_hidden()
    assert [url.endswith(f"/api/{user}/chat/ws") for url in sockets] == [True]
    assert not any("token" in url for url in sockets)  # never in the URL

    send(page, "add eggs")  # the fake's default: add the message as a task, then say so
    expect(page.locator(".message-assistant")).to_have_count(2)
    expect(task_titles(page)).to_have_count(2, timeout=15_000)
    with stack.api(user) as api:
        conversation = api.get("/conversations").json()["items"][0]
        stored = api.get(f"/conversations/{conversation['id']}/messages").json()
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[1]["content"].startswith("Stopped.")
    assert [c["tool"] for c in stored[1]["tool_calls"]] == ["add_task"]
    screenshot(page, "09-chat-stopped-then-next")
