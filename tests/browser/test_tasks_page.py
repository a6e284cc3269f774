"""Signing in and managing tasks by clicking, in a real browser against the real API."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE
from tests.support.users import random_user

XSS_TITLE = "<img src=x onerror=alert(1)>"


def sign_in(page: Page, stack, user: str) -> None:
    page.goto(stack.sign_in_link(user))
    expect(page.locator("#user-name")).to_have_text(user)
    expect(page.locator("#tasks-empty")).to_be_visible()


def task_titles(page: Page):
    return page.locator("#task-list .task-title")


def add_task(page: Page, title: str) -> None:
    page.get_by_label("New task").fill(title)
    page.get_by_label("New task").press("Enter")
    expect(page.locator("#task-list .task-title", has_text=title).first).to_be_visible()


def task_row(page: Page, title: str):
    return page.locator("#task-list .task").filter(
        has=page.locator(".task-title", has_text=re.compile(f"^{re.escape(title)}$"))
    )


def test_signed_out_page_offers_a_token_form(page: Page, stack, screenshot):
    page.goto(stack.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#workspace")).to_be_hidden()
    screenshot(page, "01-signed-out")

    page.get_by_label("Access token").fill("not a token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("not a valid token")

    user = random_user()
    page.get_by_label("Access token").fill("Bearer " + stack.token(user))
    page.get_by_label("Access token").press("Enter")
    expect(page.locator("#user-name")).to_have_text(user)
    expect(page.locator("#tasks-empty")).to_have_text(re.compile("No tasks yet"))


def test_sign_in_link_keeps_the_token_out_of_the_address_bar(page: Page, stack):
    user = random_user()
    sign_in(page, stack, user)
    assert "#" not in page.url and "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('todo-agent.token')")

    page.reload()
    expect(page.locator("#user-name")).to_have_text(user)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('todo-agent.token')") is None
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_expired_or_rejected_token_asks_to_sign_in_again(page: Page, stack):
    user = random_user()
    page.goto(f"{stack.url}/#token={stack.token(user, ttl_seconds=-60)}")
    expect(page.locator("#sign-in-error")).to_contain_text("expired")

    # A well-formed, unexpired token the server rejects (another secret): the API answers 401.
    forged = stack.token(user, secret="another-secret-" + "x" * 40)
    page.goto(f"{stack.url}/#token={forged}")
    expect(page.locator("#sign-in-error")).to_contain_text("Sign in again")
    expect(page.locator("#workspace")).to_be_hidden()


def test_add_complete_filter_rename_delete_and_reload(page: Page, stack, screenshot):
    user = random_user()
    sign_in(page, stack, user)

    add_task(page, "Buy milk")
    page.get_by_label("New task").fill("Call mom")
    page.get_by_role("button", name="Add", exact=True).click()
    add_task(page, "Water the plants")
    expect(task_titles(page)).to_have_text(["Buy milk", "Call mom", "Water the plants"])
    expect(page.get_by_label("New task")).to_have_value("")
    expect(page.locator("#task-count")).to_have_text("3 tasks")

    # complete, then filter
    task_row(page, "Buy milk").get_by_role("checkbox").check()
    expect(task_row(page, "Buy milk")).to_have_class(re.compile("is-done"))
    page.get_by_role("button", name="Pending", exact=True).click()
    expect(task_titles(page)).to_have_text(["Call mom", "Water the plants"])
    page.get_by_role("button", name="Completed", exact=True).click()
    expect(task_titles(page)).to_have_text(["Buy milk"])
    page.get_by_role("button", name="All", exact=True).click()
    expect(task_titles(page)).to_have_count(3)

    # uncomplete toggles back
    task_row(page, "Water the plants").get_by_role("checkbox").check()
    task_row(page, "Water the plants").get_by_role("checkbox").uncheck()
    expect(task_row(page, "Water the plants")).not_to_have_class(re.compile("is-done"))

    # rename inline: the button opens a field, Enter saves; Escape cancels another edit
    page.get_by_role("button", name="Rename: Call mom").click()
    field = page.get_by_label("New title for: Call mom")
    field.fill("Call mum tonight")
    field.press("Enter")
    expect(task_row(page, "Call mum tonight")).to_have_count(1)
    task_row(page, "Water the plants").locator(".task-title").dblclick()
    page.get_by_label("New title for: Water the plants").fill("discarded")
    page.get_by_label("New title for: Water the plants").press("Escape")
    expect(task_titles(page)).to_have_text(["Buy milk", "Call mum tonight", "Water the plants"])
    screenshot(page, "02-task-list")

    # delete
    page.get_by_role("button", name="Delete: Water the plants").click()
    expect(task_titles(page)).to_have_text(["Buy milk", "Call mum tonight"])

    # the server agrees, and a reload shows the same list
    with stack.api(user) as api:
        stored = {t["title"]: t["completed"] for t in api.get("/tasks").json()}
    assert stored == {"Buy milk": True, "Call mum tonight": False}
    page.reload()
    expect(task_titles(page)).to_have_text(["Buy milk", "Call mum tonight"])
    expect(task_row(page, "Buy milk").get_by_role("checkbox")).to_be_checked()


TASKS_ROUTE = re.compile(r"/api/[^/]+/tasks(\?.*)?$")


def test_typing_the_next_task_while_one_is_being_added_loses_nothing(page: Page, stack):
    user = random_user()
    sign_in(page, stack, user)
    held = []  # the first create, answered only after the next title is typed

    def hold_first_create(route) -> None:
        if route.request.method == "POST" and not held:
            held.append(route)
        else:
            route.continue_()

    page.route(TASKS_ROUTE, hold_first_create)
    field = page.get_by_label("New task")
    field.fill("Buy milk")
    field.press("Enter")
    while not held:
        page.wait_for_timeout(20)
    field.fill("Call mom")  # typed while "Buy milk" is on its way
    held[0].continue_()
    expect(task_titles(page)).to_have_text(["Buy milk"])
    expect(field).to_have_value("Call mom")  # the late answer did not wipe it
    field.press("Enter")
    expect(task_titles(page)).to_have_text(["Buy milk", "Call mom"])


def test_a_create_that_fails_gives_the_title_back(page: Page, stack):
    user = random_user()
    sign_in(page, stack, user)

    def refuse_creates(route) -> None:
        if route.request.method == "POST":
            route.fulfill(
                status=503,
                headers={"Retry-After": "5"},
                json={"detail": "The database is unavailable; try again shortly"},
            )
        else:
            route.continue_()

    page.route(TASKS_ROUTE, refuse_creates)
    field = page.get_by_label("New task")
    field.fill("Buy milk")
    field.press("Enter")
    expect(page.locator("#tasks-error")).to_contain_text("try again")
    expect(field).to_have_value("Buy milk")  # nothing lost: Enter again retries
    page.unroute(TASKS_ROUTE)
    field.press("Enter")
    expect(task_titles(page)).to_have_text(["Buy milk"])


def test_markup_in_a_title_is_shown_literally(page: Page, stack, watch):
    user = random_user()
    sign_in(page, stack, user)
    add_task(page, XSS_TITLE)
    with stack.api(user) as api:
        api.post("/tasks", json={"title": "<script>alert(2)</script>", "description": "<b>x</b>"})
    page.reload()

    expect(task_titles(page)).to_have_text([XSS_TITLE, "<script>alert(2)</script>"])
    expect(page.locator("#task-list .task-description")).to_have_text("<b>x</b>")
    assert page.locator("#task-list img, #task-list script, #task-list b").count() == 0
    # Renaming goes through the same path.
    page.get_by_role("button", name=f"Rename: {XSS_TITLE}").click()
    page.get_by_label(f"New title for: {XSS_TITLE}").fill('"><svg onload=alert(3)>')
    page.get_by_label(f"New title for: {XSS_TITLE}").press("Enter")
    expect(task_titles(page).first).to_have_text('"><svg onload=alert(3)>')
    page.wait_for_timeout(300)  # give any injected handler the chance to fire
    assert watch.dialogs == []


def test_keyboard_only_add_and_complete(page: Page, stack):
    user = random_user()
    sign_in(page, stack, user)
    page.get_by_label("New task").focus()
    page.keyboard.type("Keyboard task")
    page.keyboard.press("Enter")
    expect(task_titles(page)).to_have_text(["Keyboard task"])
    # Focus stays in the field for the next task; Tab reaches the filters, then the task.
    expect(page.get_by_label("New task")).to_be_focused()
    checkbox = task_row(page, "Keyboard task").get_by_role("checkbox")
    for _ in range(8):
        page.keyboard.press("Tab")
        if checkbox.evaluate("node => node === document.activeElement"):
            break
    expect(checkbox).to_be_focused()
    page.keyboard.press("Space")
    expect(checkbox).to_be_checked()
    expect(task_row(page, "Keyboard task")).to_have_class(re.compile("is-done"))


def test_phone_width_layout_has_tabs_and_no_sideways_scroll(phone_page: Page, stack, screenshot):
    page = phone_page
    user = random_user()
    sign_in(page, stack, user)
    add_task(page, "A fairly long task title that has to wrap on a narrow phone screen nicely")
    add_task(page, "Short one")
    expect(page.locator("#tasks-panel")).to_be_visible()
    expect(page.locator("#chat-panel")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "05-phone-tasks")

    page.get_by_role("button", name="Chat", exact=True).click()
    expect(page.locator("#chat-panel")).to_be_visible()
    expect(page.locator("#tasks-panel")).to_be_hidden()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    page.get_by_role("button", name="History").click()
    expect(page.get_by_role("button", name="New chat")).to_be_visible()
    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_role("button", name="New chat")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "06-phone-chat")
