"""No secret, token, stack trace or SQL in responses or logs, and no guessable default secret.

A run of the real processes that includes errors (bad and foreign tokens, invalid input, a model
provider failing, the task server gone, the rate limit) is captured from the
processes' log files and grepped.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time

import httpx
import jwt

from tests.reliability import figures
from tests.support.chat import chat_body
from tests.support.fake_openai import FakeOpenAI, error
from tests.support.mcp import mcp_call
from tests.support.processes import running, service_env
from tests.support.stack import stack
from tests.support.tokens import TEST_SECRET, bearer, token

API_KEY = "sk-live-" + "k" * 40
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")


def test_no_secret_token_trace_or_sql_in_responses_or_logs(sqlite_url: str, tmp_path) -> None:
    user = "secretive"
    tokens = [token(user), token("someone-else"), token(user, ttl=-60)]
    forged = token(user, secret="forged-" + "f" * 40)
    bodies = []
    with FakeOpenAI.running() as fake:
        env = {
            "MODEL": "fake-model",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": API_KEY,
            "CHAT_RATE_LIMIT": "4",
        }
        with stack(sqlite_url, tmp_path, **env) as services, services.client() as client:
            mine = {"Authorization": f"Bearer {tokens[0]}"}
            requests = [
                ("POST", f"/api/{user}/chat", chat_body("add milk"), mine),
                (
                    "POST",
                    f"/api/{user}/chat",
                    chat_body("x"),
                    {"Authorization": f"Bearer {forged}"},
                ),
                ("GET", f"/api/{user}/tasks", None, {"Authorization": f"Bearer {tokens[1]}"}),
                ("GET", f"/api/{user}/tasks", None, {"Authorization": f"Bearer {tokens[2]}"}),
                ("GET", f"/api/{user}/tasks/99999", None, mine),
                ("POST", f"/api/{user}/tasks", {"title": "y" * 500}, mine),
                ("POST", f"/api/{user}/chat", chat_body("x", 424242), mine),
            ]
            for method, url, body, headers in requests:
                bodies.append(client.request(method, url, json=body, headers=headers).text)
            fake.fail_with(error(500))  # the provider fails
            bodies.append(client.post(f"/api/{user}/chat", json=chat_body("a"), headers=mine).text)
            fake.fail_with(None)
            # A task id far beyond any real one, straight at the task server.
            crash = mcp_call(services.mcp, "complete_task", {"task_id": 2**62}, mine)
            bodies.append(crash.text)
            services.mcp.stop()  # the task server goes away
            bodies.append(client.post(f"/api/{user}/chat", json=chat_body("b"), headers=mine).text)
            for _ in range(3):  # over the rate limit
                bodies.append(
                    client.post(f"/api/{user}/chat", json=chat_body("c"), headers=mine).text
                )
            logs = services.logs()
    figures.count("secrets: requests sent", len(bodies))
    assert '"status": 5' in logs or '"status": 503' in logs  # the run did include failures
    for where, text in [("logs", logs), *((f"response {n}", b) for n, b in enumerate(bodies))]:
        for secret in (TEST_SECRET, API_KEY, forged, *tokens):
            assert secret not in text, where
        assert "Traceback" not in text, where
        assert not SQL.search(text), (where, SQL.search(text))
    # The logs are useful nonetheless: errors are there, by type, with the request id.
    assert re.search(r'"request_id": "[0-9a-f]{32}"', logs)


def test_the_embedded_default_generates_a_private_unguessable_secret(tmp_path) -> None:
    data = tmp_path / "data"
    env = service_env(f"sqlite:///{tmp_path / 'todo.db'}", "unused", data)
    del env["BETTER_AUTH_SECRET"]
    subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"], env=env, check=True, capture_output=True
    )
    with running("api", env, tmp_path) as api:
        secret_file = data / "secret"
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        secret = secret_file.read_text().strip()
        assert len(secret) >= 32
        minted = subprocess.run(
            [sys.executable, "-m", "backend.cli", "token", "demo"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        now = int(time.time())
        claims = {"sub": "demo", "iat": now, "exp": now + 600}
        guesses = ["0", "secret", "changeme", "better-auth-secret", "todo-agent", TEST_SECRET]
        with httpx.Client(base_url=api.url, timeout=10) as client:
            for guess in guesses:
                forged = jwt.encode(claims, guess, "HS256")
                response = client.get(
                    "/api/demo/tasks", headers={"Authorization": f"Bearer {forged}"}
                )
                assert response.status_code == 401, guess
            good = client.get("/api/demo/tasks", headers={"Authorization": f"Bearer {minted}"})
            assert good.status_code == 200
        assert secret not in api.log()
    # Another data directory, another secret: nothing is shared between installations.
    other = service_env(f"sqlite:///{tmp_path / 'other.db'}", "unused", tmp_path / "other")
    del other["BETTER_AUTH_SECRET"]
    subprocess.run(
        [sys.executable, "-m", "backend.cli", "token", "demo"],
        env=other,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "other" / "secret").read_text().strip() != secret


def test_the_mcp_server_never_echoes_a_token(sqlite_url: str, tmp_path) -> None:
    with stack(sqlite_url, tmp_path) as services:
        for headers in (bearer("someone"), {"Authorization": "Bearer " + "x" * 9000}):
            response = mcp_call(services.mcp, "list_tasks", {}, headers)
            assert headers["Authorization"][7:] not in response.text
        assert headers["Authorization"][7:] not in services.logs()
        assert "Traceback" not in services.logs()
