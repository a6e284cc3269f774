"""A JSON body sent without `Content-Type: application/json` gets a 422 that names the header.

curl's `-d` sends `application/x-www-form-urlencoded` and `fetch` with a string body sends
`text/plain`; FastAPI then leaves the body unread, and its own message does not say why.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.auth import mint_token
from backend.config import Settings

HINT = "The body must be JSON: send the header 'Content-Type: application/json'"


@pytest.fixture
def api(sqlite_settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from backend.main import create_app

    headers = {"Authorization": f"Bearer {mint_token('carol', sqlite_settings)}"}
    with TestClient(create_app(sqlite_settings)) as client:
        yield client, headers


@pytest.mark.parametrize("path", ["/api/carol/chat", "/api/carol/chat/stream", "/api/carol/tasks"])
@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "text/plain;charset=UTF-8"]
)
def test_a_json_body_without_the_json_content_type_is_a_422_that_says_so(
    api: tuple[TestClient, dict[str, str]], path: str, content_type: str | None
) -> None:
    client, headers = api
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    response = client.post(
        path, content='{"message": "add milk", "title": "milk"}', headers=headers
    )
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body"], "msg": HINT, "type": "content_type"}]}


def test_a_json_body_that_is_not_an_object_keeps_its_own_message(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    response = client.post("/api/carol/tasks", json=["milk"], headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "model_attributes_type"
    ok = client.post(
        "/api/carol/tasks",
        content='{"title": "milk"}',
        headers={**headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 201
