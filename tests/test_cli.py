"""The console script: token, migrate, --version, and start-up failures that explain themselves."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import httpx
import jwt
import pytest
import sqlalchemy as sa

from backend import __version__, cli
from backend.config import Settings
from backend.main import create_app
from tests.databases import migrated_sqlite_from_the_future
from tests.support.processes import free_port, run_cli


def test_token_prints_a_verifiable_jwt(tmp_path):
    env = dict(os.environ, BETTER_AUTH_SECRET="x" * 40, TODO_AGENT_DATA_DIR=str(tmp_path))
    out = run_cli("token", "alice", "--ttl", "120", env=env)
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), "x" * 40, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert 100 <= claims["exp"] - claims["iat"] <= 120


def test_migrate_creates_the_embedded_database(tmp_path):
    env = dict(os.environ, TODO_AGENT_DATA_DIR=str(tmp_path))
    env.pop("DATABASE_URL", None)
    env.pop("BETTER_AUTH_SECRET", None)
    out = run_cli("migrate", env=env)
    assert out.returncode == 0, out.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'todo.db'}")
    assert {"task", "conversation", "message"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_production_without_secret_exits_with_a_clear_message(tmp_path):
    env = dict(os.environ, TODO_AGENT_DATA_DIR=str(tmp_path), ENVIRONMENT="production")
    env.pop("BETTER_AUTH_SECRET", None)
    out = run_cli("token", "alice", env=env)
    assert out.returncode == 1
    assert "BETTER_AUTH_SECRET" in out.stderr
    assert "Traceback" not in out.stderr


def _env(tmp_path, **extra):
    env = dict(os.environ, TODO_AGENT_DATA_DIR=str(tmp_path / "data"), BETTER_AUTH_SECRET="x" * 40)
    for name in ("DATABASE_URL", "LOG_LEVEL", "MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    env.update(extra)
    return env


def _one_clear_line(out, *expected: str) -> str:
    """Exit code 1, a single line on stderr that names what to do, and no traceback."""
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, out.stderr
    assert len(lines) == 1, out.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_version_prints_the_package_version():
    out = run_cli("--version", env=dict(os.environ))
    assert (out.returncode, out.stdout.strip()) == (0, f"todo-agent {__version__}")


@pytest.mark.parametrize("command", ["api", "mcp"])
def test_servers_refuse_an_unmigrated_database_and_name_migrate(tmp_path, command):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    sa.create_engine(url).connect().close()  # the file exists, without a schema
    out = run_cli(command, "--port", str(free_port()), env=_env(tmp_path, DATABASE_URL=url))
    line = _one_clear_line(out, "no schema yet", "todo-agent migrate")
    assert line.startswith(f"todo-agent {command}: ")


def test_the_api_refuses_a_database_file_that_does_not_exist_yet(tmp_path):
    out = run_cli("api", "--port", str(free_port()), env=_env(tmp_path))
    _one_clear_line(out, "todo-agent migrate")
    assert not (tmp_path / "data" / "todo.db").exists()  # the check created nothing


def test_servers_refuse_a_schema_newer_than_the_code(tmp_path):
    url = migrated_sqlite_from_the_future(tmp_path)
    out = run_cli("mcp", "--port", str(free_port()), env=_env(tmp_path, DATABASE_URL=url))
    _one_clear_line(out, "from_the_future", "upgrade todo-agent")


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    url = f"postgresql://todo:hunter2-secret@127.0.0.1:{free_port()}/todo"
    for command in (["migrate"], ["api", "--port", str(free_port())]):
        out = run_cli(*command, env=_env(tmp_path, DATABASE_URL=url))
        line = _one_clear_line(out, "cannot reach the database", "DATABASE_URL")
        assert "hunter2-secret" not in out.stderr + out.stdout
        assert "127.0.0.1" in line


def test_log_level_debug_shows_the_traceback(tmp_path):
    url = f"postgresql://todo@127.0.0.1:{free_port()}/todo"
    out = run_cli("migrate", env=_env(tmp_path, DATABASE_URL=url, LOG_LEVEL="DEBUG"))
    assert out.returncode == 1
    assert "Traceback" in out.stderr


def test_a_taken_port_is_one_line(tmp_path, sqlite_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in ("api", "mcp"):
            out = run_cli(command, "--port", str(port), env=_env(tmp_path, DATABASE_URL=sqlite_url))
            _one_clear_line(out, f"cannot listen on 127.0.0.1:{port}", "--port")


@pytest.mark.parametrize(
    "variables, expected",
    [
        ({"HISTORY_LIMIT": "1"}, "invalid setting: HISTORY_LIMIT"),
        ({"ENVIRONMENT": "production", "BETTER_AUTH_SECRET": "short"}, "32 characters"),
        ({"MODEL": "gpt-4.1"}, "needs OPENAI_API_KEY"),
    ],
)
def test_a_bad_setting_is_one_line(tmp_path, sqlite_url, variables, expected):
    env = _env(tmp_path, DATABASE_URL=sqlite_url, **variables)
    out = run_cli("api", "--port", str(free_port()), env=env)
    _one_clear_line(out, expected)
    assert "short" not in out.stderr.replace("shorter", "")  # the value itself is never echoed


def test_serve_prints_its_banner_only_once_both_servers_answer(tmp_path):
    api_port, mcp_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(api_port)]
        + ["--mcp-port", str(mcp_port)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        for line in process.stdout:
            if "todo-agent is running" in line or time.monotonic() > deadline:
                break
        assert "todo-agent is running" in line
        # The banner's promise: both answer now, without a retry.
        assert httpx.get(f"http://127.0.0.1:{api_port}/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{mcp_port}/health").status_code == 200
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize("environment", ["development", "production"])
def test_serve_banner_links_to_the_docs_only_where_the_app_serves_them(tmp_path, environment):
    settings = Settings(
        environment=environment, better_auth_secret=secrets.token_urlsafe(48), data_dir=tmp_path
    )
    base = "http://127.0.0.1:8000"
    banner = cli._banner(settings, base, "http://127.0.0.1:8001/mcp", "a.token.here")
    served = {getattr(route, "path", None) for route in create_app(settings).routes}
    assert (f"{base}/docs" in banner) == ("/docs" in served)


def test_serve_on_a_taken_port_prints_no_banner(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli(
            "serve", "--port", str(free_port()), "--mcp-port", str(port), env=_env(tmp_path)
        )
    _one_clear_line(out, f"cannot listen on 127.0.0.1:{port}")
    assert "todo-agent is running" not in out.stdout
