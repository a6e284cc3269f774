"""The chat panel and conversation sidebar in a real browser.

The first tests answer the stream route from the browser side (Playwright routing) to pin down
how the page handles every event type and error status, independent of any model. The others
talk to the real chat route with the offline model, and skip while that route is missing.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.test_tasks_page import sign_in, task_row, task_titles
from tests.support.users import random_user

STREAM_ROUTE = "/api/{user_id}/chat/stream"
MARKUP = "<img src=x onerror=alert(1)>"


def sse(*events: dict) -> str:
    return "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"


def answer_over_sse(page: Page) -> None:
    """Refuse the page's WebSocket, so that it falls back to the SSE route the test answers."""
    page.route_web_socket("**/chat/ws", lambda ws: ws.close())


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


_chat_probe: dict[str, str | None] = {}


def require_chat(stack) -> None:
    """Skip (with the reason) while the chat route or the offline model has not landed."""
    if not stack.has_route(STREAM_ROUTE):
        pytest.skip(f"the chat route {STREAM_ROUTE} is not in this build yet (issue 4/5)")
    if stack.url not in _chat_probe:
        # One real turn for a throwaway user: a 503 here means the model cannot run at all.
        probe = random_user()
        with stack.api(probe) as api:
            answer = api.post("/chat", json={"message": "show my tasks"}, timeout=30)
        _chat_probe[stack.url] = (
            None
            if answer.status_code == 200
            else f"the chat route answers {answer.status_code}: {answer.text[:200]}"
        )
    if _chat_probe[stack.url]:
        pytest.skip(
            f"chat with MODEL=offline does not work in this build yet: {_chat_probe[stack.url]}"
        )


# ---- the page's side of the stream protocol (answers come from Playwright) ----------------


def test_stream_events_render_tool_calls_and_text_literally(page: Page, stack, screenshot):
    user = random_user()
    sign_in(page, stack, user)
    with stack.api(user) as api:
        created = api.post("/tasks", json={"title": MARKUP}).json()
    task = {"id": created["id"], "title": MARKUP, "completed": False}
    answer = sse(
        {"type": "start", "conversation_id": 7},
        {"type": "tool_call", "tool": "add_task", "parameters": {"title": MARKUP}, "result": task},
        {
            "type": "tool_call",
            "tool": "complete_task",
            "parameters": {"task_id": 99},
            "result": {"error": "Task 99 not found"},
        },
        {"type": "delta", "text": "Added "},
        {"type": "delta", "text": f"{MARKUP} **to** your list."},
        {
            "type": "done",
            "conversation_id": 7,
            "response": f"Added {MARKUP} **to** your list.",
            "tool_calls": [{"tool": "add_task", "parameters": {"title": MARKUP}, "result": task}],
        },
    )
    answer_over_sse(page)
    page.route(
        "**/chat/stream",
        lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream"}, body=answer
        ),
    )

    send(page, "add the tricky one")
    reply = page.locator(".message-assistant").last
    expect(reply.locator(".message-text")).to_have_text(f"Added {MARKUP} **to** your list.")
    call = reply.locator(".tool-call").first
    expect(reply.locator(".tool-call.is-error .tool-result")).to_have_text(
        "error: Task 99 not found"
    )
    expect(call.locator(".tool-name")).to_have_text("add_task")
    expect(call.locator(".tool-args")).to_have_text(f'title: "{MARKUP}"')
    expect(call.locator(".tool-result")).to_have_text(f'#{created["id"]} "{MARKUP}"')
    call.locator("summary").click()
    expect(call.locator("pre").first).to_contain_text('"title": "<img src=x onerror=alert(1)>"')
    # The tool changed data, so the list reloaded and shows the task the "tool" made.
    expect(task_titles(page)).to_have_text([MARKUP])
    assert page.locator("#messages img, #task-list img").count() == 0
    expect(page.locator(".message-user .message-text")).to_have_text("add the tricky one")
    screenshot(page, "03a-chat-stream-scripted")


def test_rate_limit_waits_and_unavailable_offers_retry(page: Page, stack, screenshot):
    user = random_user()
    sign_in(page, stack, user)
    answers = [
        {
            "status": 429,
            "headers": {"Retry-After": "2", "Content-Type": "application/json"},
            "body": json.dumps({"detail": "Too many requests"}),
        },
        {
            "status": 503,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"detail": "The model is unavailable"}),
        },
        {
            "status": 200,
            "headers": {"Content-Type": "text/event-stream"},
            "body": sse(
                {"type": "start", "conversation_id": 3},
                {"type": "error", "status": 503, "detail": "The tool server is unavailable"},
            ),
        },
        {
            "status": 200,
            "headers": {"Content-Type": "text/event-stream"},
            "body": sse(
                {"type": "start", "conversation_id": 3},
                {"type": "delta", "text": "You have no tasks."},
                {
                    "type": "done",
                    "conversation_id": 3,
                    "response": "You have no tasks.",
                    "tool_calls": [],
                },
            ),
        },
    ]
    sent: list[dict] = []

    def answer(route: Route) -> None:
        sent.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(**answers[len(sent) - 1])

    answer_over_sse(page)
    page.route("**/chat/stream", answer)
    send_button = page.get_by_role("button", name=re.compile("^Send"))
    error = page.locator("#chat-error")

    send(page, "what's left?")
    expect(error).to_contain_text(re.compile(r"Wait \d s"))
    expect(send_button).to_be_disabled()
    expect(page.get_by_role("textbox", name="Message")).to_have_value("what's left?")
    expect(send_button).to_be_enabled(timeout=6000)
    expect(error).to_be_hidden()

    page.get_by_role("button", name=re.compile("^Send")).click()
    expect(error).to_contain_text("The model is unavailable")
    screenshot(page, "07-chat-unavailable-retry")
    page.get_by_role("button", name="Retry").click()
    expect(error).to_contain_text("The tool server is unavailable")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".message-assistant .message-text").last).to_have_text("You have no tasks.")
    expect(error).to_be_hidden()
    # Failed attempts leave no bubbles behind, and the conversation that never got a stored turn
    # is not referred to again.
    expect(page.locator(".message-user")).to_have_count(1)
    assert [body["message"] for body in sent] == ["what's left?"] * 4
    assert "conversation_id" not in sent[-1]


# ---- against the real chat route and the offline model -------------------------------------


def test_chat_adds_a_task_shows_the_tool_call_and_updates_the_list(page: Page, stack, screenshot):
    require_chat(stack)
    user = random_user()
    sign_in(page, stack, user)

    send(page, "add buy milk")
    reply = page.locator(".message-assistant").last
    call = reply.locator(".tool-call").filter(has=page.locator(".tool-name", has_text="add_task"))
    expect(call).to_have_count(1, timeout=20_000)
    expect(call.locator(".tool-args")).to_contain_text(re.compile("buy milk", re.I))
    expect(call.locator(".tool-result")).to_contain_text(re.compile("buy milk", re.I))
    expect(reply.locator(".message-text")).not_to_be_empty()
    expect(task_titles(page)).to_have_text([re.compile("^buy milk$", re.I)])

    send(page, "mark buy milk as done")
    done_call = (
        page.locator(".message-assistant")
        .last.locator(".tool-call")
        .filter(has=page.locator(".tool-name", has_text="complete_task"))
    )
    expect(done_call).to_have_count(1, timeout=20_000)
    expect(page.locator("#task-list .task.is-done")).to_have_count(1)
    screenshot(page, "03-chat-tool-call")

    with stack.api(user) as api:
        tasks = api.get("/tasks").json()
    assert [(t["title"].lower(), t["completed"]) for t in tasks] == [("buy milk", True)]
    page.reload()
    expect(task_row(page, tasks[0]["title"]).get_by_role("checkbox")).to_be_checked()
    expect(page.locator("#conversation-list .conversation")).to_have_count(1)


def test_conversation_sidebar_lists_opens_and_deletes(page: Page, stack, screenshot):
    require_chat(stack)
    user = random_user()
    sign_in(page, stack, user)
    conversations = page.locator("#conversation-list .conversation")
    expect(page.locator("#conversations-empty")).to_be_visible()

    send(page, "add water the plants")
    expect(page.locator(".message-assistant .tool-call")).to_have_count(1, timeout=20_000)
    expect(conversations).to_have_count(1)
    expect(conversations.first).to_have_class(re.compile("is-active"))

    page.get_by_role("button", name="New chat").click()
    expect(page.locator("#chat-empty")).to_be_visible()
    expect(page.locator("#chat-title")).to_have_text("New chat")
    send(page, "show my tasks")
    expect(page.locator(".message-assistant .message-text")).not_to_be_empty(timeout=20_000)
    expect(conversations).to_have_count(2)
    # newest first
    expect(conversations.locator(".conversation-title")).to_have_text(
        [re.compile("show my tasks", re.I), re.compile("add water the plants", re.I)]
    )
    screenshot(page, "04-conversations")

    # open the older one: its messages and tool calls come back from the server
    conversations.nth(1).locator(".conversation-open").click()
    expect(page.locator("#chat-title")).to_have_text(re.compile("add water the plants", re.I))
    expect(page.locator(".message-user .message-text")).to_have_text(["add water the plants"])
    expect(page.locator(".message-assistant .tool-name")).to_have_text(["add_task"])
    expect(conversations.nth(1)).to_have_class(re.compile("is-active"))

    # delete the open one: the chat resets and the list shrinks
    page.get_by_role(
        "button", name=re.compile("^Delete conversation: add water the plants", re.I)
    ).click()
    expect(conversations).to_have_count(1)
    expect(page.locator("#chat-empty")).to_be_visible()
    page.reload()
    expect(conversations).to_have_count(1)
    expect(conversations.locator(".conversation-title")).to_have_text(
        [re.compile("show my tasks", re.I)]
    )

    # Narrower (tablet) width: the sidebar becomes a drawer behind the History button.
    page.set_viewport_size({"width": 1000, "height": 760})
    expect(page.locator("#conversations")).to_be_hidden()
    page.get_by_role("button", name="History").click()
    expect(page.locator("#conversations")).to_be_visible()
    expect(page.get_by_role("button", name="New chat")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#conversations")).to_be_hidden()
    expect(page.get_by_role("button", name="History")).to_be_focused()
    page.get_by_role("button", name="History").click()
    page.wait_for_timeout(400)  # let the slide-in finish before the screenshot
    screenshot(page, "08-tablet-history-drawer")
    conversations.first.locator(".conversation-open").click()
    expect(page.locator("#conversations")).to_be_hidden()
    expect(page.locator(".message-user .message-text")).to_have_text(["show my tasks"])
