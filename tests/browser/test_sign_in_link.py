"""A sign-in link for another user does not silently switch the page's account (login CSRF).

A page or a mail can open `/#token=<the attacker's token>` in the tab where the user is signed
in; the user would then type their todos into the attacker's account. The page asks first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.browser.conftest import DESKTOP
from tests.support.users import random_user


class Dialogs:
    """Answers every confirm() with `accept`, and keeps what it was asked."""

    def __init__(self) -> None:
        self.accept = False
        self.asked: list[str] = []

    def __call__(self, dialog: Dialog) -> None:
        self.asked.append(dialog.message)
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


@pytest.fixture
def dialogs() -> Dialogs:
    return Dialogs()


@pytest.fixture
def signed_in_page(browser: Browser, stack, dialogs: Dialogs) -> Iterator[tuple[Page, str]]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", dialogs)
    user = random_user()
    page.goto(stack.sign_in_link(user))
    expect(page.locator("#user-name")).to_have_text(user)
    yield page, user
    context.close()


def _open_link(page: Page, stack, user: str) -> None:
    # Same document, new fragment: what a link opened in this tab (or a script) does.
    page.evaluate("token => { window.location.hash = 'token=' + token; }", stack.token(user))


def test_a_link_for_another_user_asks_and_cancel_keeps_the_account(
    signed_in_page: tuple[Page, str], stack, dialogs: Dialogs
) -> None:
    page, user = signed_in_page
    attacker = random_user()
    _open_link(page, stack, attacker)
    expect(page.locator("#user-name")).to_have_text(user)
    page.wait_for_function("() => !window.location.hash")
    assert len(dialogs.asked) == 1 and attacker in dialogs.asked[0] and user in dialogs.asked[0]
    page.reload()  # the refused token was not stored either
    expect(page.locator("#user-name")).to_have_text(user)
    assert len(dialogs.asked) == 1


def test_a_link_for_another_user_switches_when_confirmed(
    signed_in_page: tuple[Page, str], stack, dialogs: Dialogs
) -> None:
    page, _ = signed_in_page
    dialogs.accept = True
    other = random_user()
    _open_link(page, stack, other)
    expect(page.locator("#user-name")).to_have_text(other)
    assert len(dialogs.asked) == 1


def test_a_fresh_link_for_the_same_user_needs_no_question(
    signed_in_page: tuple[Page, str], stack, dialogs: Dialogs
) -> None:
    page, user = signed_in_page
    _open_link(page, stack, user)
    page.wait_for_function("() => !window.location.hash")
    expect(page.locator("#user-name")).to_have_text(user)
    assert dialogs.asked == []
