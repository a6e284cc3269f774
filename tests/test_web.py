"""The web page and its assets as served by the backend (no browser needed)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from backend.api.web import STATIC_FILES


@pytest.fixture
def web(sqlite_settings):
    from backend.main import create_app

    with TestClient(create_app(sqlite_settings)) as test_client:
        yield test_client


class _Scripts(HTMLParser):
    """Collects <script> tags, inline event-handler attributes and local asset references."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_bodies: list[str] = []
        self.handler_attributes: list[str] = []
        self.assets: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handler_attributes += [name for name, _ in attrs if name.startswith("on")]
        if "style" in attributes:
            self.handler_attributes.append("style")
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        for name in ("src", "href"):
            value = attributes.get(name) or ""
            if value.startswith("/static/"):
                self.assets.append(value)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_bodies.append(data)


def test_index_serves_html_with_security_headers(web):
    response = web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = dict(
        (part.split(" ", 1) + [""])[:2] for part in (p.strip() for p in csp.split(";")) if part
    )
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers.get("x-request-id")


def test_index_has_no_inline_script_or_handlers_and_its_assets_exist(web):
    page = _Scripts()
    page.feed(web.get("/").text)
    assert page.scripts, "the page loads its script"
    assert all(script.get("src", "").startswith("/static/") for script in page.scripts)
    assert page.inline_bodies == []
    assert page.handler_attributes == []
    assert page.assets
    for asset in page.assets:
        assert web.get(asset).status_code == 200, asset


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.css", "text/css"),
        ("/static/js/app.js", "text/javascript"),
        ("/static/js/chat.js", "text/javascript"),
        ("/static/icon.svg", "image/svg+xml"),
    ],
)
def test_static_assets_have_the_right_content_type_and_headers(web, path, content_type):
    response = web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in response.headers


def test_every_module_import_resolves_to_a_served_file(web):
    # A missing ES module would leave the page blank with only a console error.
    for name in (n for n in STATIC_FILES if n.endswith(".js")):
        source = web.get(f"/static/{name}").text
        for imported in re.findall(r'from\s+"(\./[^"]+)"', source):
            target = f"/static/js/{imported[2:]}"
            assert web.get(target).status_code == 200, f"{name} imports {imported}"


def test_unchanged_asset_revalidates_with_304(web):
    first = web.get("/static/app.css")
    again = web.get("/static/app.css", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    ["/static/../config.py", "/static/%2e%2e/config.py", "/static/missing.js", "/static/"],
)
def test_only_packaged_static_files_are_served(web, path):
    response = web.get(path)
    assert response.status_code == 404
    assert "BETTER_AUTH_SECRET" not in response.text


def test_api_docs_keep_working_without_the_page_policy(web):
    # Swagger UI loads from a CDN and runs an inline script: the page's CSP must not apply there.
    docs = web.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers
    assert web.get("/openapi.json").status_code == 200
    assert "/" not in web.get("/openapi.json").json()["paths"]
