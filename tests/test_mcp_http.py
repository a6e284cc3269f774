"""The MCP server as a real process (`todo-agent mcp`): auth, transport security, the Agents SDK
client, concurrent clients and the MCP Inspector CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from agents import Agent, RunConfig, Runner
from agents.mcp import MCPServerStreamableHttp
from agents.testing import ScriptedModel, assistant_message, function_call

from tests.support.mcp import INITIALIZE, MCP_HEADERS
from tests.support.processes import ServiceProcess, mcp_on_sqlite, running, service_env
from tests.support.tokens import TEST_SECRET, bearer, token, unsigned_token
from tests.support.users import random_user

TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}
INSPECTOR_VERSION = "2.12.0"
INSPECTOR_DIR = Path.home() / ".cache" / "todo-agent-tests" / "inspector"


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 2, "method": method, "params": params}


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": arguments})


def post(
    service: ServiceProcess, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        service.url, json=body, headers={**MCP_HEADERS, **(headers or {})}, timeout=10
    )


def agents_client(service: ServiceProcess, user: str) -> MCPServerStreamableHttp:
    return MCPServerStreamableHttp(
        params={"url": service.url, "headers": bearer(user)},
        cache_tools_list=True,
        client_session_timeout_seconds=20,
    )


@pytest.fixture(scope="module")
def mcp_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One server process on SQLite for the tests whose subject is not the database."""
    with mcp_on_sqlite(tmp_path_factory.mktemp("mcp")) as service:
        yield service


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer " + unsigned_token("alice"),
        "Bearer " + token("alice", secret="wrong-secret-" + "x" * 32),
        "Bearer " + token("alice", ttl=-60),
        "Bearer " + jwt.encode({"exp": int(time.time()) + 3600}, TEST_SECRET, algorithm="HS256"),
    ],
    ids=["no-token", "empty", "garbage", "basic", "alg-none", "wrong-secret", "expired", "no-sub"],
)
def test_requests_without_a_valid_token_get_401(
    mcp_service: ServiceProcess, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = post(mcp_service, INITIALIZE, headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert TEST_SECRET not in response.text


def test_a_valid_token_initializes(mcp_service: ServiceProcess) -> None:
    response = post(mcp_service, INITIALIZE, bearer("alice"))
    assert response.status_code == 200
    assert response.json()["result"]["serverInfo"]["name"] == "todo"


def test_no_tool_runs_for_a_rejected_token(mcp_service: ServiceProcess) -> None:
    user = random_user()
    forged = {"Authorization": "Bearer " + token(user, secret="wrong-secret-" + "x" * 32)}
    rejected = post(mcp_service, tool_call("add_task", {"title": "forged"}), forged)
    accepted = post(mcp_service, tool_call("list_tasks", {}), bearer(user))
    assert rejected.status_code == 401
    assert accepted.status_code == 200
    assert accepted.json()["result"]["structuredContent"] == {
        "tasks": [],
        "count": 0,
        "total": 0,
    }


def test_tool_arguments_cannot_choose_the_user(mcp_service: ServiceProcess) -> None:
    """A stray user_id argument is ignored: the token decides whose list it is."""
    alice, bob = random_user(), random_user()
    post(mcp_service, tool_call("add_task", {"title": "Alice's", "user_id": bob}), bearer(alice))
    bobs = post(mcp_service, tool_call("list_tasks", {"user_id": alice}), bearer(bob))
    assert bobs.json()["result"]["structuredContent"]["count"] == 0


def test_health_needs_no_token(mcp_service: ServiceProcess) -> None:
    response = httpx.get(f"http://127.0.0.1:{mcp_service.port}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- DNS-rebinding protection ----------------------------------------------------------------


def test_foreign_host_and_origin_are_refused_by_default(mcp_service: ServiceProcess) -> None:
    by_host = post(mcp_service, INITIALIZE, {**bearer("alice"), "Host": "evil.example:8001"})
    by_origin = post(mcp_service, INITIALIZE, {**bearer("alice"), "Origin": "http://evil.example"})
    local_origin = post(
        mcp_service, INITIALIZE, {**bearer("alice"), "Origin": "http://localhost:6274"}
    )
    assert by_host.status_code == 421
    assert by_origin.status_code == 403
    assert local_origin.status_code == 200


def test_configured_hosts_and_origins_are_accepted(sqlite_url: str, tmp_path: Path) -> None:
    env = service_env(
        sqlite_url,
        TEST_SECRET,
        tmp_path / "data",
        MCP_ALLOWED_HOSTS="mcp:8001,todo.example.com",
        MCP_ALLOWED_ORIGINS="https://todo.example.com",
    )
    with running("mcp", env, tmp_path) as service:
        compose = post(service, INITIALIZE, {**bearer("alice"), "Host": "mcp:8001"})
        proxied = post(
            service,
            INITIALIZE,
            {**bearer("alice"), "Host": "todo.example.com", "Origin": "https://todo.example.com"},
        )
        other = post(service, INITIALIZE, {**bearer("alice"), "Host": "evil.example"})
    assert (compose.status_code, proxied.status_code, other.status_code) == (200, 200, 421)


# --- the Agents SDK client --------------------------------------------------------------------


def test_agents_sdk_client_lists_and_calls_the_tools(database_url: str, tmp_path: Path) -> None:
    """`MCPServerStreamableHttp` with the Bearer header, against the real process, per database."""
    alice, bob = random_user(), random_user()

    async def scenario(service: ServiceProcess) -> None:
        async with agents_client(service, alice) as as_alice, agents_client(service, bob) as as_bob:
            tools = await as_alice.list_tools()
            assert {tool.name for tool in tools} == TOOLS
            added = await as_alice.call_tool(
                "add_task", {"title": "Buy milk", "description": "2 l"}
            )
            assert not added.is_error
            task_id = added.structured_content["task_id"]
            done = await as_alice.call_tool("complete_task", {"task_id": task_id})
            assert done.structured_content == {
                "task_id": task_id,
                "status": "completed",
                "title": "Buy milk",
            }
            listed = await as_alice.call_tool("list_tasks", {"status": "completed"})
            assert [task["title"] for task in listed.structured_content["tasks"]] == ["Buy milk"]
            stolen = await as_bob.call_tool("delete_task", {"task_id": task_id})
            assert stolen.is_error and f"Task {task_id} not found" in stolen.content[0].text
            assert (await as_alice.call_tool("list_tasks", {})).structured_content["count"] == 1

    with running(
        "mcp", service_env(database_url, TEST_SECRET, tmp_path / "data"), tmp_path
    ) as service:
        asyncio.run(scenario(service))


@pytest.mark.parametrize("use_structured_content", [False, True])
def test_agent_reads_tool_results_as_documented(
    mcp_service: ServiceProcess, use_structured_content: bool
) -> None:
    """What an agent's model receives as function_call_output (docs/mcp-server.md, Agents SDK)."""
    user = random_user()
    model = ScriptedModel(
        [
            [
                function_call("add_task", {"title": "Buy milk"}, call_id="add"),
                function_call("complete_task", {"task_id": 999999}, call_id="missing"),
            ],
            [assistant_message("Added.")],
        ]
    )

    async def run() -> list[Any]:
        async with MCPServerStreamableHttp(
            params={"url": mcp_service.url, "headers": bearer(user)},
            cache_tools_list=True,
            use_structured_content=use_structured_content,
        ) as server:
            agent = Agent(name="todo", model=model, mcp_servers=[server])
            result = await Runner.run(
                agent, "add buy milk", run_config=RunConfig(tracing_disabled=True)
            )
        return [
            item["output"]
            for item in result.to_input_list()
            if item.get("type") == "function_call_output"
        ]

    added, missing = asyncio.run(run())
    if use_structured_content:
        assert isinstance(added, str)
        assert json.loads(added) == {
            "task_id": json.loads(added)["task_id"],
            "status": "created",
            "title": "Buy milk",
        }
    else:
        assert added[0]["type"] == "input_text"
        assert json.loads(added[0]["text"])["status"] == "created"
    # Errors always arrive as text, with the tool's message.
    assert missing == [
        {
            "type": "input_text",
            "text": "Error executing tool complete_task: Task 999999 not found. "
            "Call list_tasks to see the ids of your tasks.",
        }
    ]


def test_many_concurrent_clients_are_served_correctly(mcp_service: ServiceProcess) -> None:
    """Tool calls run on worker threads: 20 clients at once, each sees exactly its own tasks."""
    users = [random_user() for _ in range(20)]

    async def session(user: str) -> list[str]:
        async with agents_client(mcp_service, user) as client:
            for n in range(3):
                result = await client.call_tool("add_task", {"title": f"{user} #{n}"})
                assert not result.is_error, result.content
            listed = await client.call_tool("list_tasks", {})
        return [task["title"] for task in listed.structured_content["tasks"]]

    async def all_sessions() -> list[list[str]]:
        return await asyncio.gather(*(session(user) for user in users))

    results = asyncio.run(all_sessions())
    assert results == [[f"{user} #{n}" for n in range(3)] for user in users]


# --- MCP Inspector CLI --------------------------------------------------------------------


@pytest.fixture(scope="session")
def inspector() -> Path:
    """The Inspector CLI, installed once into a cache folder shared by test runs."""
    executable = INSPECTOR_DIR / "node_modules" / ".bin" / "mcp-inspector"
    package_json = (
        INSPECTOR_DIR / "node_modules" / "@modelcontextprotocol" / "inspector" / "package.json"
    )
    installed = (
        package_json.exists()
        and json.loads(package_json.read_text()).get("version") == INSPECTOR_VERSION
    )
    if not (executable.exists() and installed):
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install the MCP Inspector CLI")
        INSPECTOR_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(INSPECTOR_DIR),
                f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return executable


def run_inspector(
    inspector: Path, service: ServiceProcess, user: str, tmp_path: Path, *args: str
) -> dict[str, Any]:
    # HOME in tmp_path: the CLI keeps a catalog and storage under ~/.mcp-inspector.
    env = dict(os.environ, HOME=str(tmp_path))
    completed = subprocess.run(
        [
            str(inspector),
            "--cli",
            service.url,
            "--header",
            f"Authorization: Bearer {token(user)}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_inspector_cli_lists_the_five_tools(
    inspector: Path, mcp_service: ServiceProcess, tmp_path: Path
) -> None:
    listed = run_inspector(
        inspector, mcp_service, random_user(), tmp_path, "--method", "tools/list"
    )
    assert {tool["name"] for tool in listed["tools"]} == TOOLS


def test_inspector_cli_calls_add_task(
    inspector: Path, mcp_service: ServiceProcess, tmp_path: Path
) -> None:
    user = random_user()
    added = run_inspector(
        inspector,
        mcp_service,
        user,
        tmp_path,
        "--method",
        "tools/call",
        "--tool-name",
        "add_task",
        "--tool-arg",
        "title=Water the plants",
        "description=Balcony too",
    )
    listed = post(mcp_service, tool_call("list_tasks", {}), bearer(user)).json()["result"]
    assert added["isError"] is False
    assert added["structuredContent"]["status"] == "created"
    assert [
        (task["title"], task["description"]) for task in listed["structuredContent"]["tasks"]
    ] == [("Water the plants", "Balcony too")]
