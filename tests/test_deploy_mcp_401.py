"""The MCP server's 401 tells the user (and MCP Inspector's log) how to get a fresh token."""

from __future__ import annotations

import time

import jwt
from fastapi.testclient import TestClient

from backend.config import Settings
from mcp_server.server import build_app
from tests.conftest import TEST_SECRET
from tests.support.mcp import INITIALIZE

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_a_rejected_token_gets_a_401_that_names_todo_agent_token(
    sqlite_settings: Settings,
) -> None:
    expired = jwt.encode({"sub": "alice", "exp": int(time.time()) - 60}, TEST_SECRET, "HS256")
    with TestClient(build_app(sqlite_settings), base_url="http://127.0.0.1") as client:
        for extra in ({}, {"Authorization": f"Bearer {expired}"}):
            response = client.post("/mcp", json=INITIALIZE, headers={**HEADERS, **extra})
            assert response.status_code == 401
            body = response.json()
            assert body["error"] == "invalid_token"
            assert "todo-agent token USER_ID" in body["error_description"]
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith('Bearer error="invalid_token"')
            assert "todo-agent token USER_ID" in challenge
            assert int(response.headers["content-length"]) == len(response.content)
        accepted = client.post(
            "/mcp",
            json=INITIALIZE,
            headers={**HEADERS, "Authorization": "Bearer " + _valid()},
        )
        assert accepted.status_code == 200


def _valid() -> str:
    now = int(time.time())
    return jwt.encode({"sub": "alice", "iat": now, "exp": now + 60}, TEST_SECRET, "HS256")
