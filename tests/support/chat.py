"""Requests of the chat and conversations API, built one way for every test and the benchmark."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from fastapi.testclient import TestClient

from tests.support.sse import data_payloads


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


def stream_events(client: TestClient, headers: dict, message: str, **body: Any) -> list[Any]:
    """The `data:` payloads of one streamed turn of alice's, `[DONE]` included as a string."""
    with client.stream(
        "POST", "/api/alice/chat/stream", json={"message": message, **body}, headers=headers
    ) as response:
        assert response.status_code == 200, response.read()
        return data_payloads(response.iter_lines())


def turn(client: TestClient, headers: dict, message: str, streaming: bool, **body: Any) -> dict:
    """One successful turn on either route, as the JSON body `/chat` returns; a streamed one
    must agree with itself (its tool_call events and deltas are what its done event says)."""
    if not streaming:
        response = chat(client, headers, message, body.get("conversation_id"))
        assert response.status_code == 200, response.text
        return dict(response.json())
    events = stream_events(client, headers, message, **body)
    assert events[-1] == "[DONE]", events
    done = events[-2]
    assert done["type"] == "done", events
    assert [e for e in events if isinstance(e, dict) and e["type"] == "tool_call"] == [
        {"type": "tool_call", **call} for call in done["tool_calls"]
    ]
    deltas = "".join(e["text"] for e in events if isinstance(e, dict) and e["type"] == "delta")
    assert deltas == done["response"]
    return {key: done[key] for key in ("conversation_id", "response", "tool_calls")}
