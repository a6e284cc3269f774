"""Real-model path: `build_model` over the real `openai` client, against a loopback fake server.

These drive the Agents SDK `Runner` with a local function tool, so they test the provider path on
its own; the chat route's end-to-end tests are in test_providers_chat.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from agents import (
    Agent,
    ModelBehaviorError,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    trace,
)
from agents.tracing.traces import NoOpTrace
from openai.types.responses import ResponseTextDeltaEvent

from backend.chat import providers as models
from backend.chat.providers import (
    PROVIDER_ERRORS,
    ModelProvider,
    build_model,
    configure_sdk,
    new_openai_client,
)
from backend.config import ConfigError, Settings
from tests.support.fake_openai import (
    GARBAGE,
    MALFORMED,
    Failure,
    FakeOpenAI,
    error,
    text,
    tool_call,
)
from tests.support.processes import free_port, port_open


def provider_settings(fake: FakeOpenAI, **overrides) -> Settings:
    values = {"model": "fake-model", "openai_base_url": fake.base_url, "tracing": False}
    values.update(overrides)
    return Settings(_env_file=None, **values)


added: list[str] = []


@function_tool
def add_task(title: str) -> str:
    """Add a task to the list."""
    added.append(title)
    return f"Added '{title}' as task 7"


@pytest.fixture(autouse=True)
def _clear_added() -> None:
    added.clear()


async def run_agent(settings: Settings, message: str, streaming: bool) -> tuple[str, list[str]]:
    """Final text and the text deltas seen (streaming only)."""
    configure_sdk(settings)
    agent = Agent(
        name="todo", instructions="Manage todos.", model=build_model(settings), tools=[add_task]
    )
    if not streaming:
        result = await Runner.run(agent, message)
        return result.final_output, []
    result = Runner.run_streamed(agent, message)
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)
    ]
    return result.final_output, deltas


# --- configuration ------------------------------------------------------------------------


def test_named_model_without_key_or_base_url_is_a_config_error() -> None:
    settings = Settings(_env_file=None, model="gpt-4.1", openai_api_key=None, openai_base_url=None)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY.*OPENAI_BASE_URL"):
        build_model(settings)


def test_api_key_alone_selects_a_real_openai_model() -> None:
    settings = Settings(_env_file=None, openai_api_key="sk-test")
    model = build_model(settings)
    assert isinstance(model, OpenAIChatCompletionsModel)
    assert model.model == settings.model_name != "offline"
    assert str(model._client.base_url).startswith("https://api.openai.com/")


def test_base_url_without_key_is_enough_for_a_local_server(fake: FakeOpenAI) -> None:
    model = build_model(provider_settings(fake))
    assert isinstance(model, OpenAIChatCompletionsModel)
    assert str(model._client.base_url).rstrip("/") == fake.base_url


def test_client_timeouts_and_retries_are_deliberate(fake: FakeOpenAI) -> None:
    client = new_openai_client(provider_settings(fake, model_timeout_seconds=42))
    # The one retry is ProviderModel's (within the turn deadline), not the client's.
    assert client.max_retries == models.MAX_RETRIES == 0
    assert client.timeout.read == 42
    assert client.timeout.connect == models.CONNECT_TIMEOUT_SECONDS


async def test_one_client_per_app_shared_by_every_turn(fake: FakeOpenAI) -> None:
    provider = ModelProvider(provider_settings(fake))
    assert provider.model()._client is provider.model()._client is provider.client
    other = ModelProvider(provider_settings(fake, model_timeout_seconds=5))
    assert other.client is not provider.client
    assert provider.client._client._transport._pool._ssl_context is models._ssl_context()
    await provider.aclose()
    await other.aclose()


def test_a_second_event_loop_gets_a_working_client(fake: FakeOpenAI) -> None:
    # A process-wide client would carry pooled connections of a closed loop into the next one.
    settings = provider_settings(fake)
    for _ in range(2):
        reply, _ = asyncio.run(run_agent(settings, "add buy milk", streaming=False))
        assert "task 7" in reply


def test_tracing_is_off_unless_asked_for(fake: FakeOpenAI) -> None:
    configure_sdk(provider_settings(fake, tracing=False))
    assert isinstance(trace("probe"), NoOpTrace)
    openai_settings = Settings(
        _env_file=None, model="gpt-4.1-mini", openai_api_key="sk-test", tracing=True
    )
    configure_sdk(openai_settings)
    try:
        assert not isinstance(trace("probe"), NoOpTrace)
    finally:
        configure_sdk(provider_settings(fake, tracing=False))


def test_tracing_never_sends_a_third_party_key_to_openai(fake: FakeOpenAI) -> None:
    # Traces go to OpenAI; OPENAI_API_KEY here belongs to the provider at OPENAI_BASE_URL.
    configure_sdk(provider_settings(fake, tracing=True, openai_api_key="gemini-key"))
    try:
        assert isinstance(trace("probe"), NoOpTrace)
    finally:
        configure_sdk(provider_settings(fake, tracing=False))


# --- the agent loop over the real client ---------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
async def test_agent_calls_the_tool_then_answers(fake: FakeOpenAI, streaming: bool) -> None:
    reply, _ = await run_agent(provider_settings(fake), "buy milk", streaming)

    assert added == ["buy milk"]
    assert reply == "Done. The tool said: Added 'buy milk' as task 7"
    first, second = fake.requests
    assert first["model"] == "fake-model"
    assert bool(first.get("stream")) is streaming
    assert [tool["function"]["name"] for tool in first["tools"]] == ["add_task"]
    # The second call shows the model its own tool call and the tool's result.
    assistant, result = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "add_task"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"title": "buy milk"}
    assert result["role"] == "tool"
    assert result["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "task 7" in result["content"]


async def test_streamed_text_arrives_in_several_deltas(fake: FakeOpenAI) -> None:
    fake.script(text("Here are your three tasks: milk, eggs and bread."))
    reply, deltas = await run_agent(provider_settings(fake), "what's on my list?", True)
    assert len(deltas) > 1
    assert "".join(deltas) == reply == "Here are your three tasks: milk, eggs and bread."
    assert added == []


@pytest.mark.parametrize("streaming", [False, True])
async def test_scripted_tool_calls_then_text(fake: FakeOpenAI, streaming: bool) -> None:
    fake.script(
        tool_call("add_task", {"title": "eggs"}),
        tool_call("add_task", {"title": "bread"}),
        text("Added eggs and bread."),
    )
    reply, _ = await run_agent(provider_settings(fake), "add eggs and bread", streaming)
    assert added == ["eggs", "bread"]
    assert reply == "Added eggs and bread."
    assert fake.pending == 0


# --- provider failures ----------------------------------------------------------------------

# The model timeout of each case: only the hang needs a short one. Any other case keeps the
# default, so that an answer of the fake that is slow on a loaded machine stays the failure
# under test instead of becoming an APITimeoutError. The hang's is still long enough for the
# fake (a thread of this process) to record the request before the client gives up on it.
HANG_TIMEOUT = 2.0
DEFAULT_TIMEOUT = Settings(_env_file=None).model_timeout_seconds

FAILURES = [
    pytest.param(
        error(500), openai.InternalServerError, 2, DEFAULT_TIMEOUT, id="http-500-retried-once"
    ),
    pytest.param(error(429), openai.RateLimitError, 2, DEFAULT_TIMEOUT, id="http-429-retried-once"),
    pytest.param(
        error(401), openai.AuthenticationError, 1, DEFAULT_TIMEOUT, id="http-401-not-retried"
    ),
    pytest.param(MALFORMED, json.JSONDecodeError, 1, DEFAULT_TIMEOUT, id="malformed-json"),
    # A timeout already used up its share of the turn deadline: no second wait.
    pytest.param(Failure("hang", seconds=5), openai.APITimeoutError, 1, HANG_TIMEOUT, id="timeout"),
]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("failure", "exception", "attempts", "model_timeout"), FAILURES)
async def test_provider_failures_raise_provider_errors(
    fake: FakeOpenAI,
    failure: Failure,
    exception: type[Exception],
    attempts: int,
    model_timeout: float,
    streaming: bool,
) -> None:
    fake.fail_with(failure)
    with pytest.raises(exception) as caught:
        settings = provider_settings(fake, model_timeout_seconds=model_timeout)
        await run_agent(settings, "buy milk", streaming)
    assert isinstance(caught.value, PROVIDER_ERRORS)
    assert len(fake.requests) == attempts
    assert added == []


async def test_a_completion_without_choices_is_a_model_behavior_error(fake: FakeOpenAI) -> None:
    fake.fail_with(GARBAGE)
    with pytest.raises(ModelBehaviorError):
        await run_agent(provider_settings(fake), "buy milk", streaming=False)


async def test_a_stream_without_choices_is_a_model_behavior_error(fake: FakeOpenAI) -> None:
    # The SDK skips chunks without choices; the normaliser calls a stream with no answer in
    # it a failure instead of letting it pass as an empty reply.
    fake.fail_with(GARBAGE)
    with pytest.raises(ModelBehaviorError):
        await run_agent(provider_settings(fake), "buy milk", streaming=True)
    assert added == []


async def test_failure_after_a_tool_ran_still_raises(fake: FakeOpenAI) -> None:
    fake.script(tool_call("add_task", {"title": "eggs"}), error(500), error(500))
    with pytest.raises(openai.InternalServerError):
        await run_agent(provider_settings(fake), "add eggs", streaming=False)
    assert added == ["eggs"]


async def test_unreachable_provider_is_a_connection_error() -> None:
    settings = Settings(
        _env_file=None, model="fake-model", openai_base_url=f"http://127.0.0.1:{free_port()}/v1"
    )
    with pytest.raises(openai.APIConnectionError) as caught:
        await run_agent(settings, "buy milk", streaming=False)
    assert isinstance(caught.value, PROVIDER_ERRORS)


# --- the fake server itself -----------------------------------------------------------------


async def test_fake_serves_concurrent_slow_calls_without_blocking(fake: FakeOpenAI) -> None:
    fake.delay = 0.3
    settings = provider_settings(fake)
    replies = await asyncio.gather(
        *(run_agent(settings, f"task {n}", streaming=n % 2 == 0) for n in range(20))
    )
    assert sorted(added) == sorted(f"task {n}" for n in range(20))
    assert all("task 7" in reply for reply, _ in replies)
    assert fake.max_in_flight >= 10  # the calls overlapped instead of queueing


def test_fake_runs_standalone() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_openai",
            "--port",
            str(port),
            "--tool",
            "list_tasks",
            "--args",
            '{"status": "all"}',
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not port_open(port):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "what's left?"}],
            "tools": [{"type": "function", "function": {"name": "list_tasks", "parameters": {}}}],
        }
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body).json()
        call = answer["choices"][0]["message"]["tool_calls"][0]["function"]
        assert (call["name"], json.loads(call["arguments"])) == ("list_tasks", {"status": "all"})
    finally:
        process.terminate()
        process.wait(10)


def test_api_refuses_to_start_with_an_unreachable_model_configuration(tmp_path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(MODEL="gpt-4.1", TODO_AGENT_DATA_DIR=str(tmp_path), BETTER_AUTH_SECRET="x" * 40)
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "api", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "MODEL=gpt-4.1 needs OPENAI_API_KEY" in result.stderr
