"""Fixtures for the browser tests: one real stack (MCP server + API on SQLite) per module, and a
fresh browser context per test. Each test signs in as its own random user, so tests do not see
each other's data.

The browser is Debian's `chromium` (`apt-get install chromium chromium-driver`; `.ci/run` does it
when running as root). Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from backend.auth import mint_token
from backend.config import Settings
from backend.migrate import upgrade
from tests.support.stack import stack as running_stack
from tests.support.tokens import TEST_SECRET

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (CHROMIUM.exists() or shutil.which("chromium")):
        return "Chromium is missing: apt-get install -y chromium chromium-driver (.ci/run does this as root)"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    executable = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Site:
    """What a browser test sees of the running stack: its address, and tokens to sign in with."""

    url: str
    secret: str
    data_dir: Path
    log: Callable[[], str]

    def token(self, user_id: str, ttl_seconds: int = 3600, secret: str | None = None) -> str:
        settings = Settings(better_auth_secret=secret or self.secret, data_dir=self.data_dir)
        return mint_token(user_id, settings, ttl_seconds=ttl_seconds)

    def sign_in_link(self, user_id: str) -> str:
        return f"{self.url}/#token={self.token(user_id)}"

    def api(self, user_id: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/{user_id}",
            headers={"Authorization": f"Bearer {self.token(user_id)}"},
            timeout=10,
        )

    def has_route(self, path: str) -> bool:
        return path in httpx.get(f"{self.url}/openapi.json", timeout=10).json()["paths"]


@pytest.fixture(scope="module")
def stack(browser, tmp_path_factory) -> Iterator[Site]:
    """The real processes: `todo-agent mcp` and `todo-agent api` (offline model) on SQLite."""
    root = tmp_path_factory.mktemp("browser-stack")
    database_url = f"sqlite:///{root / 'todo.db'}"
    upgrade(database_url)
    with running_stack(database_url, root, MODEL="offline") as services:
        yield Site(services.api.url, TEST_SECRET, root / "data", services.api.log)


@dataclass
class PageWatch:
    """What a page did that no test wants: JavaScript dialogs, CSP violations, uncaught errors."""

    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


def _open_page(browser: Browser, watch: PageWatch, viewport: dict) -> tuple[object, Page]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_dialog(dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            watch.csp_violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    return context, page


@pytest.fixture
def page(browser, stack, watch) -> Iterator[Page]:
    context, page = _open_page(browser, watch, DESKTOP)
    yield page
    context.close()
    assert watch.dialogs == [], "a JavaScript dialog fired"
    assert watch.csp_violations == [], "the page broke its own Content-Security-Policy"
    assert watch.page_errors == [], "uncaught JavaScript errors"


@pytest.fixture
def phone_page(browser, stack, watch) -> Iterator[Page]:
    context, page = _open_page(browser, watch, PHONE)
    yield page
    context.close()
    assert watch.dialogs == [] and watch.csp_violations == [] and watch.page_errors == []


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    def take(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
