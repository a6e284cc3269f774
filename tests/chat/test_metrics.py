"""GET /metrics on the API and on the MCP server, read before and after real chat turns.

The turns run as in test_chat_turn.py: a scripted model in the API (this process), the real
`todo-agent mcp` process for the tools. Counters are process-wide, so each test compares a
scrape taken before its requests with one taken after.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import httpx2
import openai
import pytest
from agents import ModelResponse
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.usage import Usage
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from backend.config import Settings
from backend.deps import get_chat_model
from backend.main import create_app
from backend.migrate import upgrade
from backend.observability.http import route_template
from backend.observability.metrics import render
from backend.observability.model import ObservedModel
from tests.conftest import override_settings
from tests.support.chat import chat
from tests.support.fake_openai import FakeOpenAI
from tests.support.processes import ServiceProcess, free_port, running, service_env
from tests.support.tokens import TEST_SECRET

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TOOL_ERROR_CALL = function_call("delete_task", {"task_id": 4242}, call_id="call_del")
CHAT_ROUTE = "/api/{user_id}/chat"


@pytest.fixture(name="chat_database", scope="module")
def sqlite_chat_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Counting does not depend on the database engine: SQLite only."""
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics-db') / 'todo.db'}"
    upgrade(url)
    return url


@pytest.fixture(name="model")
def usage_model_fixture(client: TestClient) -> Iterator[ScriptedModel]:
    """A scripted model that reports token usage for every step, as a provider would."""
    scripted = ScriptedModel(default_usage=Usage(requests=1, input_tokens=10, output_tokens=4))
    client.app.dependency_overrides[get_chat_model] = lambda: scripted  # type: ignore[attr-defined]
    yield scripted
    scripted.assert_complete()


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(client: TestClient | httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _connection_error() -> openai.APIConnectionError:
    return openai.APIConnectionError(
        request=httpx2.Request("POST", "http://model.invalid/v1/chat/completions")
    )


def test_turns_model_calls_tool_calls_and_requests_are_counted(
    client: TestClient,
    model: ScriptedModel,
    headers: dict[str, str],
    mcp_process: ServiceProcess,
) -> None:
    mcp = httpx.Client(base_url=mcp_process.url.removesuffix("/mcp"), timeout=10)
    api_before, mcp_before = scrape(client), scrape(mcp)
    model.extend(
        [
            [function_call("add_task", {"title": "Buy milk"}, call_id="call_add")],
            [assistant_message("Added 'Buy milk'.")],
            [TOOL_ERROR_CALL],
            [assistant_message("There is no task 4242.")],
            _connection_error(),
        ]
    )
    assert chat(client, headers, "add buy milk").status_code == 200
    assert chat(client, headers, "delete task 4242").status_code == 200
    assert chat(client, headers, "hello").status_code == 503  # the model provider is down
    assert chat(client, headers, "hi", conversation_id=999_999).status_code == 404
    api, server = scrape(client), scrape(mcp)

    turns = "todo_agent_chat_turns_total"
    assert moved(api_before, api, turns, outcome="ok") == 2
    assert moved(api_before, api, turns, outcome="model_error") == 1
    assert moved(api_before, api, turns, outcome="rejected") == 1
    assert moved(api_before, api, "todo_agent_chat_turn_duration_seconds_count") == 3
    assert value(api, "todo_agent_chat_turns_in_flight") == 0

    requests = "todo_agent_model_requests_total"
    labels = {"provider": "ScriptedModel", "model": "ScriptedModel"}
    assert moved(api_before, api, requests, **labels, outcome="ok") == 4
    assert moved(api_before, api, requests, **labels, outcome="error") == 1
    tokens = "todo_agent_model_tokens_total"
    assert moved(api_before, api, tokens, **labels, direction="input") == 40
    assert moved(api_before, api, tokens, **labels, direction="output") == 16

    calls = "todo_agent_tool_calls_total"
    for side, samples, before in (("agent", api, api_before), ("server", server, mcp_before)):
        assert moved(before, samples, calls, side=side, tool="add_task", outcome="ok") == 1
        assert moved(before, samples, calls, side=side, tool="delete_task", outcome="error") == 1
        duration = "todo_agent_tool_call_duration_seconds_count"
        assert moved(before, samples, duration, side=side, tool="add_task") == 1

    http = "todo_agent_http_requests_total"
    assert moved(api_before, api, http, route=CHAT_ROUTE, method="POST", status="200") == 2
    assert moved(api_before, api, http, route=CHAT_ROUTE, method="POST", status="503") == 1
    assert moved(api_before, api, http, route=CHAT_ROUTE, method="POST", status="404") == 1
    assert moved(mcp_before, server, http, route="/mcp", method="POST", status="200") >= 2
    # Labels are route templates: no user id ever becomes a series.
    assert not any("alice" in label for _, labels_ in api for _, label in labels_)

    # Both processes used their pool; nothing is checked out between requests.
    for before, samples in ((api_before, api), (mcp_before, server)):
        assert moved(before, samples, "todo_agent_db_pool_checkout_seconds_count") > 0
        assert value(samples, "todo_agent_db_pool_connections_in_use") == 0


def test_a_rate_limited_chat_is_counted(client: TestClient, headers: dict[str, str]) -> None:
    override_settings(client.app, chat_rate_limit=1)  # type: ignore[arg-type]
    before = scrape(client)
    assert chat(client, headers, "hi", conversation_id=999_999).status_code == 404
    assert chat(client, headers, "hi", conversation_id=999_999).status_code == 429
    after = scrape(client)
    assert moved(before, after, "todo_agent_rate_limited_total", surface="chat") == 1
    http = "todo_agent_http_requests_total"
    assert moved(before, after, http, route=CHAT_ROUTE, method="POST", status="429") == 1


def test_a_rate_limited_rest_request_is_counted(
    client: TestClient, headers: dict[str, str]
) -> None:
    override_settings(client.app, api_rate_limit=1)  # type: ignore[arg-type]
    before = scrape(client)
    assert client.get("/api/alice/tasks", headers=headers).status_code == 200
    assert client.get("/api/alice/tasks", headers=headers).status_code == 429
    after = scrape(client)
    assert moved(before, after, "todo_agent_rate_limited_total", surface="api") == 1
    assert moved(before, after, "todo_agent_rate_limited_total", surface="chat") == 0


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    before = scrape(client)
    assert client.get("/no/such/path/alice").status_code == 404
    after = scrape(client)
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert moved(before, after, "todo_agent_http_requests_total", **labels) == 1
    assert route_template({"type": "http"}) == "unmatched"


def test_metrics_can_be_turned_off_or_moved_to_their_own_port(settings: Settings) -> None:
    off = settings.model_copy(update={"metrics_enabled": False})
    with TestClient(create_app(off)) as app:
        assert app.get("/metrics").status_code == 404
    elsewhere = settings.model_copy(update={"metrics_port": 9})
    with TestClient(create_app(elsewhere)) as app:
        assert app.get("/metrics").status_code == 404  # served by the CLI on METRICS_PORT
    with TestClient(create_app(settings)) as app:
        assert app.get("/metrics").status_code == 200


async def test_a_model_call_that_raises_is_counted_with_its_outcome(settings: Settings) -> None:
    class Failing(ScriptedModel):
        async def get_response(self, *args: object, **kwargs: object) -> ModelResponse:
            raise openai.RateLimitError(
                "slow down",
                response=httpx2.Response(429, request=httpx2.Request("POST", "http://x.invalid")),
                body=None,
            )

    observed = ObservedModel(Failing(), settings)
    counter = "todo_agent_model_requests_total"
    labels = {"provider": "Failing", "model": "Failing", "outcome": "rate_limited"}
    before = parse(render().decode())
    with pytest.raises(openai.RateLimitError):
        await observed.get_response()
    assert moved(before, parse(render().decode()), counter, **labels) == 1


def test_two_api_workers_report_one_sum_on_the_metrics_port(sqlite_url: str, tmp_path) -> None:
    metrics_port = free_port()
    env = service_env(sqlite_url, TEST_SECRET, tmp_path / "data", METRICS_PORT=str(metrics_port))
    with running("api", env, tmp_path, options=["--workers", "2"]) as api:
        metrics = httpx.Client(base_url=f"http://127.0.0.1:{metrics_port}", timeout=10)
        labels = {"route": "/health", "method": "GET", "status": "200"}
        before = value(scrape(metrics), "todo_agent_http_requests_total", **labels)
        for _ in range(20):  # new connections: the kernel spreads them over both workers
            assert httpx.get(f"{api.url}/health", timeout=10).status_code == 200
        after = value(scrape(metrics), "todo_agent_http_requests_total", **labels)
        assert httpx.get(f"{api.url}/metrics", timeout=10).status_code == 404  # not for users
    assert after - before == 20


@pytest.fixture
def provider_client(settings: Settings, fake: FakeOpenAI) -> Iterator[TestClient]:
    """The API with MODEL=fake-model at the loopback fake OpenAI-compatible server."""
    configured = settings.model_copy(
        update={"model": "fake-model", "openai_base_url": fake.base_url}
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def test_calls_to_a_real_provider_are_labelled_with_its_configuration(
    provider_client: TestClient, headers: dict[str, str]
) -> None:
    before = scrape(provider_client)
    # The fake adds a task named after the message, then replies: two model calls.
    assert chat(provider_client, headers, "buy milk").status_code == 200
    after = scrape(provider_client)
    labels = {"provider": "openai_compatible", "model": "fake-model"}
    assert moved(before, after, "todo_agent_model_requests_total", **labels, outcome="ok") == 2
    duration = "todo_agent_model_request_duration_seconds_count"
    assert moved(before, after, duration, **labels) == 2
    # The Agents SDK asks only OpenAI itself for usage in a stream (stream_options), so an
    # OpenAI-compatible server reports no tokens; the scripted model's usage is counted above.
    assert moved(before, after, "todo_agent_model_tokens_total", **labels, direction="input") == 0


def test_an_unreachable_task_server_counts_as_a_tool_error(
    client: TestClient, model: ScriptedModel, headers: dict[str, str]
) -> None:
    override_settings(client.app, mcp_server_url=f"http://127.0.0.1:{free_port()}/mcp")  # type: ignore[arg-type]
    before = scrape(client)
    assert chat(client, headers, "add milk").status_code == 503
    after = scrape(client)
    assert moved(before, after, "todo_agent_chat_turns_total", outcome="tool_error") == 1
