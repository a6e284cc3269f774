"""REST task API: CRUD, filters, validation, isolation."""

from __future__ import annotations

import pytest

from tests.support.users import random_user


def _create(client, headers, user, title="Buy milk", **extra):
    response = client.post(
        f"/api/{user}/tasks", json={"title": title, **extra}, headers=headers(user)
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_task_returns_the_task(client, auth_headers):
    user = random_user()
    task = _create(client, auth_headers, user, "  Buy milk  ", description="2 liters")
    assert task["title"] == "Buy milk"
    assert task["description"] == "2 liters"
    assert task["completed"] is False
    assert task["user_id"] == user
    assert {"id", "created_at", "updated_at"} <= set(task)


@pytest.mark.parametrize(
    ("status", "expected"),
    [("all", ["a", "b", "c"]), ("pending", ["a", "c"]), ("completed", ["b"])],
)
def test_list_tasks_filters_by_status(client, auth_headers, status, expected):
    user = random_user()
    ids = {title: _create(client, auth_headers, user, title)["id"] for title in ["a", "b", "c"]}
    client.patch(f"/api/{user}/tasks/{ids['b']}/complete", headers=auth_headers(user))
    response = client.get(
        f"/api/{user}/tasks", params={"status": status}, headers=auth_headers(user)
    )
    assert response.status_code == 200
    assert [task["title"] for task in response.json()] == expected


def test_list_tasks_rejects_unknown_status(client, auth_headers):
    user = random_user()
    response = client.get(
        f"/api/{user}/tasks", params={"status": "done"}, headers=auth_headers(user)
    )
    assert response.status_code == 422


def test_toggle_complete_flips_both_ways(client, auth_headers):
    user = random_user()
    task = _create(client, auth_headers, user)
    url = f"/api/{user}/tasks/{task['id']}/complete"
    assert client.patch(url, headers=auth_headers(user)).json()["completed"] is True
    assert client.patch(url, headers=auth_headers(user)).json()["completed"] is False


def test_update_task_changes_only_given_fields(client, auth_headers):
    user = random_user()
    task = _create(client, auth_headers, user, description="keep me")
    response = client.put(
        f"/api/{user}/tasks/{task['id']}",
        json={"title": "Buy oat milk"},
        headers=auth_headers(user),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Buy oat milk"
    assert body["description"] == "keep me"
    assert body["updated_at"] >= task["updated_at"]
    got = client.get(f"/api/{user}/tasks/{task['id']}", headers=auth_headers(user)).json()
    assert got["title"] == "Buy oat milk"


def test_delete_task_removes_it(client, auth_headers):
    user = random_user()
    task = _create(client, auth_headers, user)
    response = client.delete(f"/api/{user}/tasks/{task['id']}", headers=auth_headers(user))
    assert response.status_code == 204
    assert (
        client.get(f"/api/{user}/tasks/{task['id']}", headers=auth_headers(user)).status_code == 404
    )
    assert client.get(f"/api/{user}/tasks", headers=auth_headers(user)).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "ok", "description": "d" * 1001},
        {},
        {"title": 5},
    ],
    ids=["empty", "blank", "201-chars", "long-description", "missing", "not-a-string"],
)
def test_create_task_rejects_invalid_input(client, auth_headers, body):
    user = random_user()
    response = client.post(f"/api/{user}/tasks", json=body, headers=auth_headers(user))
    assert response.status_code == 422
    assert "detail" in response.json()
    assert client.get(f"/api/{user}/tasks", headers=auth_headers(user)).json() == []


def test_title_of_200_characters_is_accepted(client, auth_headers):
    user = random_user()
    assert _create(client, auth_headers, user, "x" * 200)["title"] == "x" * 200


def test_update_rejects_blank_title_and_keeps_task(client, auth_headers):
    user = random_user()
    task = _create(client, auth_headers, user)
    response = client.put(
        f"/api/{user}/tasks/{task['id']}", json={"title": " "}, headers=auth_headers(user)
    )
    assert response.status_code == 422
    assert (
        client.get(f"/api/{user}/tasks/{task['id']}", headers=auth_headers(user)).json()["title"]
        == "Buy milk"
    )


def test_other_users_task_is_not_found(client, auth_headers):
    alice, bob = random_user(), random_user()
    task = _create(client, auth_headers, alice)
    url = f"/api/{bob}/tasks/{task['id']}"
    assert client.get(url, headers=auth_headers(bob)).status_code == 404
    assert client.put(url, json={"title": "x"}, headers=auth_headers(bob)).status_code == 404
    assert client.patch(url + "/complete", headers=auth_headers(bob)).status_code == 404
    assert client.delete(url, headers=auth_headers(bob)).status_code == 404
    assert client.get(f"/api/{bob}/tasks", headers=auth_headers(bob)).json() == []
    untouched = client.get(f"/api/{alice}/tasks/{task['id']}", headers=auth_headers(alice)).json()
    assert untouched["title"] == "Buy milk" and untouched["completed"] is False


def test_missing_task_is_404_with_detail(client, auth_headers):
    user = random_user()
    response = client.get(f"/api/{user}/tasks/999999", headers=auth_headers(user))
    assert response.status_code == 404
    assert response.json() == {"detail": "Task 999999 not found"}


def test_text_is_stored_verbatim(client, auth_headers):
    user = random_user()
    title = "<img src=x onerror=alert(1)> '; DROP TABLE task; -- ünïcødé 🚀"
    task = _create(client, auth_headers, user, title)
    assert (
        client.get(f"/api/{user}/tasks/{task['id']}", headers=auth_headers(user)).json()["title"]
        == title
    )
