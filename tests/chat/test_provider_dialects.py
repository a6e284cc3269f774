"""Each provider dialect end to end: the chat routes, the real `openai` client, the real MCP server.

The fake provider (tests/support/fake_openai.py) speaks what Gemini's OpenAI-compatible endpoint,
Ollama, llama.cpp's server and vLLM send where they differ from OpenAI. Each test runs on both
routes (`/chat` and `/chat/stream`); a finding of issue #15 is named where it is covered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings
from backend.main import create_app
from tests.support.chat import chat, conversations, messages, stream_events, tasks, turn
from tests.support.fake_openai import (
    TRUNCATED,
    Answer,
    FakeOpenAI,
    ToolCall,
    text,
    tool_call,
    tool_calls,
)

ROUTES = [pytest.param(False, id="chat"), pytest.param(True, id="stream")]


@pytest.fixture
def client(settings: Settings, fake: FakeOpenAI) -> Iterator[TestClient]:
    # A model name without "gemini" in it: an alias, as through LiteLLM or OpenRouter. The
    # default model timeout: no test here waits for one, and a short one would turn an answer
    # that is slow on a loaded machine into "The model did not answer in time".
    named = {"model": "team-default", "openai_base_url": fake.base_url}
    with TestClient(create_app(settings.model_copy(update=named))) as test_client:
        yield test_client


def failed_turn(client: TestClient, headers: dict, message: str, streaming: bool) -> dict:
    """A failed turn on either route: {"status", "detail", "retry_after"} (/chat's header)."""
    if not streaming:
        response = chat(client, headers, message)
        return {
            "status": response.status_code,
            "detail": response.json()["detail"],
            "retry_after": response.headers.get("retry-after"),
        }
    events = stream_events(client, headers, message)
    assert events[-1] == "[DONE]"
    error = events[-2]
    assert error["type"] == "error", events
    # A stream is a 200 whose error event comes late: there is no header to carry a wait.
    return {"status": error["status"], "detail": error["detail"], "retry_after": None}


def titles(client: TestClient, headers: dict) -> list[str]:
    return sorted(task["title"] for task in tasks(client, headers))


# --- finding 3: Gemini -----------------------------------------------------------------------


@pytest.mark.parametrize("streaming", ROUTES)
def test_gemini_parallel_calls_stay_two_calls_and_signatures_go_back(
    client, fake, headers, streaming
):
    fake.dialect = "gemini"
    fake.script(
        tool_calls(("add_task", {"title": "Buy milk"}), ("add_task", {"title": "Call mom"})),
        text("Added both."),
    )
    body = turn(client, headers, "add buy milk and call mom", streaming)
    assert titles(client, headers) == ["Buy milk", "Call mom"]
    assert [call["parameters"] for call in body["tool_calls"]] == [
        {"title": "Buy milk"},
        {"title": "Call mom"},
    ]
    # The fake refuses (400) a tool call sent back without the signature it came with.
    replayed = next(m for m in fake.messages() if m.get("tool_calls"))
    signed = replayed["tool_calls"][0]
    assert signed["extra_content"]["google"]["thought_signature"] in fake.signatures.values()


# --- finding 7: object arguments, calls without id ---------------------------------------------


@pytest.mark.parametrize("streaming", ROUTES)
def test_llamacpp_object_arguments_and_missing_ids_work(client, fake, headers, streaming):
    fake.dialect = "llamacpp"
    body = turn(client, headers, "buy milk", streaming)
    assert titles(client, headers) == ["buy milk"]
    assert body["tool_calls"][0]["parameters"] == {"title": "buy milk"}
    call_ids = [c["id"] for m in fake.messages() for c in m.get("tool_calls") or []]
    assert call_ids and all(call_ids)  # generated, and the tool result refers to the same id
    tool_message = next(m for m in fake.messages() if m["role"] == "tool")
    assert tool_message["tool_call_id"] == call_ids[0]


@pytest.mark.parametrize("streaming", ROUTES)
def test_ollama_whole_calls_finishing_with_stop_work(client, fake, headers, streaming):
    fake.dialect = "ollama"
    fake.script(
        tool_calls(("add_task", {"title": "Buy milk"}), ("add_task", {"title": "Call mom"})),
        text("Added both."),
    )
    turn(client, headers, "add buy milk and call mom", streaming)
    assert titles(client, headers) == ["Buy milk", "Call mom"]


# --- finding 6: cut streams, text before a tool call --------------------------------------------


@pytest.mark.parametrize("streaming", ROUTES)
def test_a_stream_cut_before_its_finish_is_a_failure(client, fake, headers, streaming):
    fake.script(TRUNCATED)
    failure = failed_turn(client, headers, "show my tasks", streaming)
    assert failure["status"] == 503
    assert failure["detail"] == "The model's answer was cut off; try again."
    assert conversations(client, headers) == []


@pytest.mark.parametrize("streaming", ROUTES)
def test_text_before_a_tool_call_is_part_of_the_stored_reply(client, fake, headers, streaming):
    fake.script(
        Answer(text="Let me add that.", calls=(ToolCall("add_task", {"title": "Buy milk"}),)),
        text("Added 'Buy milk'."),
    )
    body = turn(client, headers, "add buy milk", streaming)
    assert body["response"] == "Let me add that.\n\nAdded 'Buy milk'."
    stored = messages(client, headers, body["conversation_id"])
    assert stored[-1]["content"] == body["response"]


# --- finding 4: the model's own mistakes go back to it ------------------------------------------


@pytest.mark.parametrize("streaming", ROUTES)
def test_invalid_json_arguments_go_back_to_the_model_as_its_mistake(
    client, fake, headers, streaming
):
    fake.script(
        tool_call("add_task", '{"title": "Buy milk"}{"title": "Call mom"}'),
        tool_call("add_task", {"title": "Buy milk"}),
        text("Added."),
    )
    body = turn(client, headers, "add buy milk", streaming)
    first = body["tool_calls"][0]
    assert "not a valid JSON object" in first["result"]["error"]
    assert "unavailable" not in first["result"]["error"]
    assert titles(client, headers) == ["Buy milk"]  # the model corrected itself


@pytest.mark.parametrize("streaming", ROUTES)
def test_an_unknown_tool_goes_back_to_the_model_not_a_503(client, fake, headers, streaming):
    fake.script(
        tool_call("create_task", {"title": "Buy milk"}),
        tool_call("add_task", {"title": "Buy milk"}),
        text("Added."),
    )
    turn(client, headers, "add buy milk", streaming)
    told = next(m for m in fake.messages() if m["role"] == "tool")["content"]
    assert "no tool named 'create_task'" in told and "add_task" in told
    assert titles(client, headers) == ["Buy milk"]


# --- finding 2: a context error is trimmed and retried; never a broken conversation --------------


@pytest.mark.parametrize("streaming", ROUTES)
def test_a_context_length_error_trims_and_retries_and_the_conversation_goes_on(
    client, fake, headers, streaming
):
    fake.default_tool = None  # the fake answers "You said: <message>"
    long = "please remember this detail " * 100  # ~2.8 KB per message, ~5.6 KB per turn
    conversation_id = None
    for dialect in ("openai", "gemini", "ollama", "llamacpp", "vllm"):
        fake.dialect = dialect
        for _ in range(2):
            fake.context_limit_bytes = None
            body = turn(client, headers, long, streaming, conversation_id=conversation_id)
            conversation_id = body["conversation_id"]
        # The provider's window is now smaller than the conversation (60 % of the last request
        # it took): it refuses once, the trimmed retry fits.
        limit = len(json.dumps(fake.requests[-1]["messages"]).encode()) * 6 // 10
        fake.context_limit_bytes = limit
        fake.requests.clear()
        body = turn(client, headers, "and one more", streaming, conversation_id=conversation_id)
        assert len(fake.requests) == 2, dialect
        assert len(json.dumps(fake.requests[-1]["messages"]).encode()) <= limit
        assert fake.messages()[-1]["content"] == "and one more"
