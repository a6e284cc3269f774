"""End to end: the real `todo-agent api` and `todo-agent mcp` processes, a model over HTTP.

The model is the loopback fake OpenAI-compatible server (`tests/support/fake_openai.py`), so the
API process runs its real Chat Completions client; the offline default model gets one check too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.chat import chat
from tests.support.fake_openai import FakeOpenAI, text, tool_call
from tests.support.processes import running, service_env
from tests.support.sse import sse_events
from tests.support.stack import stack
from tests.support.tokens import TEST_SECRET


@pytest.fixture
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.running() as fake:
        yield fake


def test_a_conversation_survives_a_restart_of_both_processes(
    database_url, tmp_path, fake_model, auth_headers
):
    headers = auth_headers("alice")
    fake_model.script(tool_call("add_task", {"title": "Call the plumber"}), text("Added it."))
    with stack(database_url, tmp_path, **fake_model.service_env()) as services:
        with services.client() as client:
            first = chat(client, headers, "add call the plumber")
            assert first.status_code == 200, first.text
            conversation_id = first.json()["conversation_id"]
            [added] = first.json()["tool_calls"]
            task_id = added["result"]["task_id"]
            assert added == {
                "tool": "add_task",
                "parameters": {"title": "Call the plumber"},
                "result": {"task_id": task_id, "status": "created", "title": "Call the plumber"},
            }

        services.stop()  # nothing about the conversation lives in either process
        services.start()

        fake_model.reset()
        fake_model.script(tool_call("complete_task", {"task_id": task_id}), text("Done!"))
        with services.client() as client:
            second = chat(client, headers, "actually mark it done", conversation_id)
            assert second.status_code == 200, second.text
            assert second.json()["conversation_id"] == conversation_id
            assert second.json()["tool_calls"][0]["result"]["status"] == "completed"
            stored = client.get(
                f"/api/alice/conversations/{conversation_id}/messages", headers=headers
            ).json()
            listed = client.get("/api/alice/tasks", headers=headers).json()

    # The model saw the earlier turn, tool call and result included, rebuilt from the database.
    shown = fake_model.messages(0)
    assistant_call = next(m for m in shown if m.get("tool_calls"))
    assert assistant_call["tool_calls"][0]["function"]["name"] == "add_task"
    tool_result = next(m for m in shown if m["role"] == "tool")
    assert json.loads(tool_result["content"])["task_id"] == task_id
    assert shown[-1] == {"role": "user", "content": "actually mark it done"}

    assert [(m["role"], [c["tool"] for c in m["tool_calls"]]) for m in stored] == [
        ("user", []),
        ("assistant", ["add_task"]),
        ("user", []),
        ("assistant", ["complete_task"]),
    ]
    assert [(t["title"], t["completed"]) for t in listed] == [("Call the plumber", True)]


def test_a_stopped_task_server_is_503_and_nothing_is_half_written(
    database_url, tmp_path, fake_model, auth_headers
):
    headers = auth_headers("alice")
    fake_model.script(text("Hello!"))
    with stack(database_url, tmp_path, **fake_model.service_env()) as services:
        with services.client() as client:
            conversation_id = chat(client, headers, "hello").json()["conversation_id"]
            assert services.mcp is not None
            services.mcp.stop()

            for target in (conversation_id, None):
                response = chat(client, headers, "add buy milk", target)
                assert response.status_code == 503
                assert response.json() == {"detail": "The task server is unavailable"}
            listed = client.get("/api/alice/conversations", headers=headers).json()
            streamed = client.post(
                "/api/alice/chat/stream",
                json={"message": "add buy milk", "conversation_id": conversation_id},
                headers=headers,
            )
    assert listed["total"] == 1 and listed["items"][0]["message_count"] == 2
    assert fake_model.pending == 0 and len(fake_model.requests) == 1  # no model call was wasted
    events = sse_events(streamed.text)
    assert events[-2] == {
        "type": "error",
        "status": 503,
        "detail": "The task server is unavailable",
    }


def test_a_task_server_with_another_secret_is_503_not_a_leak(
    database_url, tmp_path, fake_model, auth_headers
):
    other = tmp_path / "other"
    other.mkdir()
    mcp_env = service_env(database_url, "another-secret-" + "x" * 32, other / "data")
    with running("mcp", mcp_env, other) as mcp:
        api_env = service_env(
            database_url,
            TEST_SECRET,
            tmp_path / "data",
            MCP_SERVER_URL=mcp.url,
            **fake_model.service_env(),
        )
        with running("api", api_env, tmp_path) as api, httpx.Client(base_url=api.url) as client:
            response = chat(client, auth_headers("alice"), "add buy milk")
            listed = client.get("/api/alice/conversations", headers=auth_headers("alice")).json()
    assert response.status_code == 503
    assert response.json() == {"detail": "The task server did not accept the credentials"}
    assert listed["total"] == 0


def test_the_default_offline_model_drives_the_real_tools(database_url, tmp_path, auth_headers):
    headers = auth_headers("alice")
    with stack(database_url, tmp_path) as services, services.client() as client:
        first = chat(client, headers, "add buy milk")
        assert first.status_code == 200, first.text
        assert [call["tool"] for call in first.json()["tool_calls"]] == ["add_task"]
        second = chat(client, headers, "mark it done", first.json()["conversation_id"])
        assert second.status_code == 200, second.text
        listed = client.get("/api/alice/tasks", headers=headers).json()

        # Requests the API refuses before any turn starts.
        assert client.post("/api/alice/chat", json={"message": "hi"}).status_code == 401
        forged = {"Authorization": "Bearer " + "e30.e30.c2ln"}
        assert chat(client, forged, "hi").status_code == 401
        assert chat(client, auth_headers("bob"), "hi").status_code == 403
        assert chat(client, headers, " ").status_code == 422
        assert chat(client, headers, "x" * 4001).status_code == 422
        missing = chat(client, headers, "hi", 424242)
        assert missing.status_code == 404 and "X-Request-ID" in missing.headers
        count = client.get("/api/alice/conversations", headers=headers).json()["total"]
    assert "complete_task" in [call["tool"] for call in second.json()["tool_calls"]]
    assert [(t["title"].lower(), t["completed"]) for t in listed] == [("buy milk", True)]
    assert count == 1
