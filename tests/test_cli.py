"""The console script: token and migrate."""

from __future__ import annotations

import os
import subprocess
import sys

import jwt
import sqlalchemy as sa


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_prints_a_verifiable_jwt(tmp_path):
    env = dict(os.environ, BETTER_AUTH_SECRET="x" * 40, TODO_AGENT_DATA_DIR=str(tmp_path))
    out = _cli("token", "alice", "--ttl", "120", env=env)
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), "x" * 40, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert 100 <= claims["exp"] - claims["iat"] <= 120


def test_migrate_creates_the_embedded_database(tmp_path):
    env = dict(os.environ, TODO_AGENT_DATA_DIR=str(tmp_path))
    env.pop("DATABASE_URL", None)
    env.pop("BETTER_AUTH_SECRET", None)
    out = _cli("migrate", env=env)
    assert out.returncode == 0, out.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'todo.db'}")
    assert {"task", "conversation", "message"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_production_without_secret_exits_with_a_clear_message(tmp_path):
    env = dict(os.environ, TODO_AGENT_DATA_DIR=str(tmp_path), ENVIRONMENT="production")
    env.pop("BETTER_AUTH_SECRET", None)
    out = _cli("token", "alice", env=env)
    assert out.returncode == 2
    assert "BETTER_AUTH_SECRET" in out.stderr
    assert "Traceback" not in out.stderr
