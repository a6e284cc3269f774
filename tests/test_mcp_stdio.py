"""`todo-agent mcp --stdio`, the way a desktop MCP client (Claude Desktop) runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from mcp import Client, StdioServerParameters

from backend.auth import mint_token
from backend.config import Settings
from tests.support.processes import service_env
from tests.support.tokens import TEST_SECRET

TODO_AGENT = str(Path(sys.executable).parent / "todo-agent")


def stdio_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = service_env(database_url, TEST_SECRET, tmp_path / "data")
    env.pop("TODO_AGENT_TOKEN", None)  # only the token a test gives
    return {**env, **extra}


async def test_stdio_server_acts_for_the_token_user(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    env = stdio_env(database_url, tmp_path, TODO_AGENT_TOKEN=mint_token("alice", settings))
    params = StdioServerParameters(command=TODO_AGENT, args=["mcp", "--stdio"], env=env)
    async with Client(params, read_timeout_seconds=30) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        added = await client.call_tool("add_task", {"title": "Buy milk"})
        listed = await client.call_tool("list_tasks", {})
    assert tools == {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}
    assert added.structured_content["status"] == "created"
    assert [task["title"] for task in listed.structured_content["tasks"]] == ["Buy milk"]

    # The same task through the API's service: it belongs to the token's user.
    from backend import tasks
    from backend.db import session_scope

    with session_scope() as session:
        assert [t.title for t in tasks.list_tasks(session=session, user_id="alice")] == ["Buy milk"]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, "TODO_AGENT_TOKEN is not set"),
        ("not-a-jwt", "TODO_AGENT_TOKEN is not accepted: Invalid token"),
        ("wrong-secret", "TODO_AGENT_TOKEN is not accepted: Invalid token"),
        ("expired", "TODO_AGENT_TOKEN is not accepted: Token expired"),
    ],
)
def test_stdio_server_refuses_to_start_without_a_valid_token(
    sqlite_url: str, tmp_path: Path, token: str | None, expected: str
) -> None:
    now = int(time.time())
    tokens = {
        "wrong-secret": jwt.encode({"sub": "alice", "exp": now + 60}, "x" * 40, algorithm="HS256"),
        "expired": jwt.encode({"sub": "alice", "exp": now - 60}, TEST_SECRET, algorithm="HS256"),
    }
    env = stdio_env(sqlite_url, tmp_path)
    if token is not None:
        env["TODO_AGENT_TOKEN"] = tokens.get(token, token)
    completed = subprocess.run(
        [TODO_AGENT, "mcp", "--stdio"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 2
    assert expected in completed.stderr
    assert completed.stdout == ""  # stdout is the protocol channel
    assert "Traceback" not in completed.stderr
