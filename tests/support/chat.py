"""Requests of the chat and conversations API, built one way for every test and the benchmark."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from fastapi.testclient import TestClient


def chat_body(message: str, conversation_id: int | None = None) -> dict[str, Any]:
    """The JSON body of `POST /api/{user}/chat` (and `/chat/stream`)."""
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


def chat(
    client: TestClient | httpx.Client,
    headers: dict[str, str],
    message: str,
    conversation_id: int | None = None,
    *,
    user: str = "alice",
    key: str | None = None,
) -> httpx.Response | httpx2.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/api/{user}/chat",
        json=chat_body(message, conversation_id),
        headers={**headers, **extra},
    )


def messages(
    client: TestClient, headers: dict[str, str], conversation_id: int
) -> list[dict[str, Any]]:
    response = client.get(f"/api/alice/conversations/{conversation_id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def conversations(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/api/alice/conversations", headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["items"]
    return result


def tasks(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/api/alice/tasks", headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result
