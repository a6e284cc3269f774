"""End to end with a real-model configuration: MODEL=<name>, OPENAI_BASE_URL=<loopback fake>.

The chat routes run the real `openai` client against tests/support/fake_openai.py, and the agent calls the
real `todo-agent mcp` process, so every tool call changes tasks in the database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings
from backend.main import create_app
from tests.conftest import override_settings
from tests.support.chat import chat, conversations, messages, stream_events, tasks, turn
from tests.support.fake_openai import MALFORMED, Failure, FakeOpenAI, error, text, tool_call


def named_model_client(settings: Settings, fake: FakeOpenAI, **changes: object) -> TestClient:
    """The API configured for a named model at the fake provider."""
    named = {"model": "fake-model", "openai_base_url": fake.base_url, **changes}
    return TestClient(create_app(settings.model_copy(update=named)))


@pytest.fixture
def client(settings: Settings, fake: FakeOpenAI) -> Iterator[TestClient]:
    # The default model timeout: a short one would turn an answer of the fake that is slow on a
    # loaded machine into "The model did not answer in time" instead of the outcome under test.
    with named_model_client(settings, fake) as test_client:
        yield test_client


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_the_agent_calls_the_mcp_tools_through_the_real_client(client, fake, headers, streaming):
    body = turn(client, headers, "buy milk", streaming)

    [call] = body["tool_calls"]
    assert (call["tool"], call["parameters"]) == ("add_task", {"title": "buy milk"})
    assert (call["result"]["status"], call["result"]["title"]) == ("created", "buy milk")
    assert [task["title"] for task in tasks(client, headers)] == ["buy milk"]
    assert body["response"].startswith("Done. The tool said:")
    assert "buy milk" in body["response"]
    # The model saw the MCP tools, then the result of its call.
    offered = {tool["function"]["name"] for tool in fake.requests[0]["tools"]}
    assert {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"} <= offered
    assert fake.requests[0]["model"] == "fake-model"
    assert fake.messages(1)[-1]["role"] == "tool"


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_a_later_turn_sees_earlier_tool_calls_from_the_database(client, fake, headers, streaming):
    first = turn(client, headers, "buy milk", streaming)
    task_id = first["tool_calls"][0]["result"]["task_id"]
    fake.script(tool_call("complete_task", {"task_id": task_id}), text("Marked 'buy milk' done."))

    second = turn(
        client, headers, "mark it done", streaming, conversation_id=first["conversation_id"]
    )

    assert second["conversation_id"] == first["conversation_id"]
    assert [c["tool"] for c in second["tool_calls"]] == ["complete_task"]
    assert second["response"] == "Marked 'buy milk' done."
    assert tasks(client, headers)[0]["completed"] is True
    # The first request of turn 2 replays turn 1 from the database, tool call and result included.
    seen = fake.messages(2)
    roles = [m["role"] for m in seen if m["role"] != "system"]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    replayed_call = next(m for m in seen if m.get("tool_calls"))
    assert replayed_call["tool_calls"][0]["function"]["name"] == "add_task"
    assert "buy milk" in next(m for m in seen if m["role"] == "tool")["content"]


PROVIDER_FAILURES = [
    pytest.param(error(500), "The model provider returned an error", id="http-500"),
    pytest.param(
        error(429),
        "The AI provider is rate limiting this service; try again in 1 seconds.",
        id="429",
    ),
    pytest.param(
        MALFORMED, "The model returned an answer the assistant could not use", id="malformed"
    ),
]


@pytest.mark.parametrize(("failure", "detail"), PROVIDER_FAILURES)
def test_provider_failures_are_503_and_store_nothing(client, fake, headers, failure, detail):
    fake.fail_with(failure)
    response = chat(client, headers, "buy milk")
    assert response.status_code == 503
    assert response.json() == {"detail": detail}
    assert conversations(client, headers) == []
    assert tasks(client, headers) == []


def test_a_provider_that_does_not_answer_in_time_is_503_and_stores_nothing(settings, fake, headers):
    # The only test here that needs a short model timeout: the hang (5 s) outlasts it (1 s).
    fake.fail_with(Failure("hang", seconds=5))
    with named_model_client(settings, fake, model_timeout_seconds=1) as client:
        response = chat(client, headers, "buy milk")
        assert response.status_code == 503
        assert response.json() == {"detail": "The model did not answer in time"}
        assert conversations(client, headers) == []
        assert tasks(client, headers) == []


@pytest.mark.parametrize(("failure", "detail"), PROVIDER_FAILURES)
def test_provider_failures_end_a_stream_with_an_error_event(client, fake, headers, failure, detail):
    fake.fail_with(failure)
    events = stream_events(client, headers, "buy milk")
    assert events[-1] == "[DONE]"
    assert {key: events[-2][key] for key in ("type", "status", "detail")} == {
        "type": "error",
        "status": 503,
        "detail": detail,
    }
    assert conversations(client, headers) == []


def test_a_provider_failure_after_a_tool_ran_keeps_what_the_tool_did(client, fake, headers):
    # One error per attempt: the client retries once.
    fake.script(tool_call("add_task", {"title": "eggs"}), error(500), error(500))
    response = chat(client, headers, "add eggs")
    assert response.status_code == 503
    assert response.json() == {"detail": "The model provider returned an error"}

    assert [task["title"] for task in tasks(client, headers)] == ["eggs"]
    [conversation] = conversations(client, headers)
    user, assistant = messages(client, headers, conversation["id"])
    assert user["content"] == "add eggs"
    assert [c["tool"] for c in assistant["tool_calls"]] == ["add_task"]


def test_the_chat_routes_are_rate_limited_per_user(client, fake, headers, monkeypatch):
    override_settings(client.app, chat_rate_limit=2)
    first = chat(client, headers, "buy milk")
    second = chat(client, headers, "buy eggs", first.json()["conversation_id"])
    assert (first.status_code, second.status_code) == (200, 200)
    calls_so_far = len(fake.requests)

    refused = chat(client, headers, "buy bread", first.json()["conversation_id"])
    streamed = client.post("/api/alice/chat/stream", json={"message": "x"}, headers=headers)

    for response in (refused, streamed):
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert len(fake.requests) == calls_so_far  # the model was not called
    assert len(messages(client, headers, first.json()["conversation_id"])) == 4
