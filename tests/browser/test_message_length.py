"""The chat box says the 4,000-character limit before sending, and never cuts a message silently.

(A `maxlength` on the box used to drop everything past 4,000 characters of a paste without a word.)
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.test_tasks_page import sign_in
from tests.support.users import random_user


def test_a_long_message_shows_the_limit_and_is_not_cut_or_sent(
    page: Page, stack, screenshot
) -> None:
    sign_in(page, stack, random_user())
    box = page.get_by_role("textbox", name="Message")
    count = page.locator("#chat-input-count")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/chat" in request.url else None)

    box.fill("short")
    expect(count).to_be_hidden()  # nothing to say far below the limit

    box.fill("x" * 3500)
    expect(count).to_have_text("3,500 / 4,000")
    expect(page.locator("#chat-send")).to_be_enabled()

    box.fill("y" * 5000)
    expect(count).to_have_text("5,000 / 4,000 characters: shorten the message to send it")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#chat-send")).to_be_disabled()
    box.press("Enter")
    assert len(box.input_value()) == 5000  # kept whole, not cut, not sent
    screenshot(page, "chat-message-too-long")

    box.fill("y" * 4000)
    expect(page.locator("#chat-send")).to_be_enabled()
    assert not [url for url in sent if url.endswith("/chat") or url.endswith("/chat/stream")]
