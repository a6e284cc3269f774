"""Cross-cutting HTTP behaviour: request ids, JSON logs, body limit, errors, health, CORS."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings
from tests.support.processes import port_open, service_env
from tests.support.users import random_user


def test_every_response_has_a_request_id(client, auth_headers):
    user = random_user()
    for response in (
        client.get("/health"),
        client.get(f"/api/{user}/tasks"),
        client.get(f"/api/{user}/tasks", headers=auth_headers(user)),
        client.get("/no-such-route"),
    ):
        assert response.headers.get("x-request-id")


def test_incoming_request_id_is_kept_and_unsafe_one_replaced(client):
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = client.get("/health", headers={"X-Request-ID": "bad id <script>"}).headers[
        "x-request-id"
    ]
    assert replaced != "bad id <script>" and len(replaced) == 32


def test_logs_are_json_lines_with_the_request_id(client, capsys):
    from backend.logs import configure_logging

    configure_logging("INFO")
    try:
        response = client.get("/health", headers={"X-Request-ID": "log-check-1"})
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    finally:
        logging.getLogger().handlers.clear()
    entries = [json.loads(line) for line in lines]
    assert any(e.get("request_id") == "log-check-1" and e.get("path") == "/health" for e in entries)
    assert response.status_code == 200


def test_oversized_body_is_413_and_nothing_stored(client, auth_headers):
    user = random_user()
    body = json.dumps({"title": "x", "description": "d" * 100_000})
    response = client.post(
        f"/api/{user}/tasks",
        content=body,
        headers={**auth_headers(user), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert client.get(f"/api/{user}/tasks", headers=auth_headers(user)).json() == []


def test_unexpected_error_is_a_plain_500(settings):
    from backend.main import create_app

    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret=hunter2 SELECT * FROM task")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "hunter2" not in response.text and "SELECT" not in response.text


def test_database_down_is_503(settings, auth_headers, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from backend import tasks
    from backend.main import create_app

    def down(**_):
        raise OperationalError("SELECT secret FROM task", {}, Exception("connection refused"))

    monkeypatch.setattr(tasks, "list_tasks", down)
    with TestClient(create_app(settings)) as test_client:
        user = random_user()
        response = test_client.get(f"/api/{user}/tasks", headers=auth_headers(user))
    assert response.status_code == 503
    assert "SELECT" not in response.text


def test_validation_error_does_not_echo_input(client, auth_headers):
    user = random_user()
    secret_looking = "sk-" + "z" * 300
    response = client.post(
        f"/api/{user}/tasks", json={"title": secret_looking}, headers=auth_headers(user)
    )
    assert response.status_code == 422
    assert secret_looking not in response.text


def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_reports_database_and_mcp(client):
    response = client.get("/ready")
    body = response.json()
    assert body["checks"]["database"] == "ok"
    # No MCP server runs in this test, so readiness must say so.
    assert body["checks"]["mcp_server"] == "unavailable"
    assert response.status_code == 503


def test_tests_never_send_the_app_to_the_default_mcp_port(settings, tmp_path):
    """A `todo-agent serve` on this machine must not answer for the MCP server of a test."""
    default = Settings.model_fields["mcp_server_url"].default
    child = service_env(settings.database_url, "secret", tmp_path)["MCP_SERVER_URL"]
    for url in (settings.mcp_server_url, child):
        assert url != default
        port = urlsplit(url).port
        assert port is not None and not port_open(port)


@pytest.mark.parametrize(
    "origin, allowed", [("http://app.test", True), ("http://evil.test", False)]
)
def test_cors_allows_only_configured_origins(settings, origin, allowed):
    from backend.main import create_app

    configured = settings.model_copy(update={"cors_origins": ["http://app.test"]})
    with TestClient(create_app(configured)) as test_client:
        response = test_client.options(
            "/api/u/tasks",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed


def test_cors_lets_a_browser_read_the_headers_our_clients_act_on(settings):
    from backend.main import create_app

    configured = settings.model_copy(update={"cors_origins": ["http://app.test"]})
    with TestClient(create_app(configured)) as test_client:
        response = test_client.get("/health", headers={"Origin": "http://app.test"})
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    # the request id to quote, when to come back, and whether an answer is a replay
    assert {"x-request-id", "retry-after", "idempotent-replayed"} <= exposed
