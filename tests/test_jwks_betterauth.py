"""The real Better Auth (npm `better-auth`, `jwt` plugin with its defaults) signs the tokens.

`tests/betterauth/server.mjs` runs it on a free loopback port with an in-memory SQLite
database, signs up alice and bob and gets their tokens with `auth.api.getToken`; the API and
the MCP server verify them through `JWT_JWKS_URL` = its `/api/auth/jwks`, with JWT_ISSUER and
JWT_AUDIENCE set to its base URL as the docs say. Skipped, with the reason, without Node.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from agents.testing import ScriptedModel, assistant_message, function_call
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters

import backend.auth
from backend.config import Settings, get_settings
from backend.db import forget_default_database
from backend.deps import get_chat_model
from backend.migrate import upgrade
from tests.betterauth.support import (
    BetterAuthServer,
    BetterAuthUser,
    better_auth,
    better_auth_unavailable,
)
from tests.conftest import TEST_SECRET
from tests.support.processes import ServiceProcess, running, service_env
from tests.test_mcp_http import INITIALIZE, post, tool_call
from tests.test_mcp_stdio import TODO_AGENT

pytestmark = pytest.mark.skipif(
    better_auth_unavailable() is not None, reason=str(better_auth_unavailable())
)


def jwt_env(server: BetterAuthServer) -> dict[str, str]:
    return {
        "JWT_JWKS_URL": server.jwks_url,
        "JWT_ISSUER": server.base_url,
        "JWT_AUDIENCE": server.base_url,
    }


@pytest.fixture(scope="module")
def auth_server() -> Iterator[BetterAuthServer]:
    with better_auth("alice", "bob") as server:
        yield server


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('betterauth-db') / 'todo.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def mcp_process(
    auth_server: BetterAuthServer, shared_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The real `todo-agent mcp`, verifying tokens with Better Auth's JWKS."""
    folder = tmp_path_factory.mktemp("mcp")
    env = service_env(shared_database, TEST_SECRET, folder / "data", **jwt_env(auth_server))
    with running("mcp", env, folder) as mcp:
        yield mcp


@pytest.fixture
def api(
    auth_server: BetterAuthServer,
    shared_database: str,
    mcp_process: ServiceProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
) -> Iterator[TestClient]:
    """The API in process, on the MCP process's database, with the same JWT settings."""
    from backend.main import create_app

    monkeypatch.setattr(backend.auth, "_key_sets", {})
    env = {
        **jwt_env(auth_server),
        "DATABASE_URL": shared_database,
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "TODO_AGENT_DATA_DIR": str(tmp_path / "data"),
        "MCP_SERVER_URL": mcp_process.url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL", "REDIS_URL", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    forget_default_database()
    settings: Settings = get_settings()
    with TestClient(create_app(settings)) as client:
        yield client
    forget_default_database()
    get_settings.cache_clear()


def bearer(user: BetterAuthUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_better_auth_signs_eddsa_tokens_with_a_kid_and_its_base_url(
    auth_server: BetterAuthServer,
) -> None:
    """What the rest of this file relies on, checked against the package itself."""
    token = auth_server.users["alice"].token
    header, claims = segment(token, 0), segment(token, 1)
    jwks = httpx.get(auth_server.jwks_url, timeout=10).json()

    assert header["alg"] == "EdDSA" and header["kid"]
    assert claims["sub"] == auth_server.users["alice"].id
    assert claims["iss"] == claims["aud"] == auth_server.base_url
    assert [(key["kid"], key["kty"], key["crv"]) for key in jwks["keys"]] == [
        (header["kid"], "OKP", "Ed25519")
    ]


def test_a_better_auth_token_works_on_the_rest_api(
    api: TestClient, auth_server: BetterAuthServer
) -> None:
    alice = auth_server.users["alice"]

    created = api.post(f"/api/{alice.id}/tasks", json={"title": "rest milk"}, headers=bearer(alice))
    listed = api.get(f"/api/{alice.id}/tasks", headers=bearer(alice))

    assert created.status_code == 201, created.text
    assert created.json()["user_id"] == alice.id
    assert "rest milk" in [task["title"] for task in listed.json()]


def test_a_better_auth_token_is_refused_on_another_users_path(
    api: TestClient, auth_server: BetterAuthServer
) -> None:
    alice, bob = auth_server.users["alice"], auth_server.users["bob"]

    response = api.get(f"/api/{bob.id}/tasks", headers=bearer(alice))

    assert response.status_code == 403


def test_a_tampered_better_auth_token_is_refused(
    api: TestClient, auth_server: BetterAuthServer
) -> None:
    alice = auth_server.users["alice"]
    header, _, signature = alice.token.split(".")
    _, bobs_claims, _ = auth_server.users["bob"].token.split(".")

    response = api.get(
        f"/api/{alice.id}/tasks",
        headers={"Authorization": f"Bearer {header}.{bobs_claims}.{signature}"},
    )

    assert response.status_code == 401


def test_a_token_a_browser_gets_from_better_auth_works(
    api: TestClient, auth_server: BetterAuthServer
) -> None:
    """Sign in over HTTP, then `GET /api/auth/token` with the session cookie (authClient.token())."""
    alice = auth_server.users["alice"]
    with httpx.Client(base_url=auth_server.base_url, timeout=10) as browser:
        signed_in = browser.post(
            "/api/auth/sign-in/email",
            json={"email": alice.email, "password": alice.password},
            headers={"Origin": auth_server.base_url},
        )
        assert signed_in.status_code == 200, signed_in.text
        token = browser.get("/api/auth/token").json()["token"]
        # The other way the docs name: the `set-auth-jwt` header of get-session.
        from_header = browser.get("/api/auth/get-session").headers["set-auth-jwt"]

    for fresh in (token, from_header):
        response = api.get(f"/api/{alice.id}/tasks", headers={"Authorization": f"Bearer {fresh}"})
        assert response.status_code == 200, response.text


def test_the_mcp_server_accepts_a_better_auth_token(
    mcp_process: ServiceProcess, auth_server: BetterAuthServer, api: TestClient
) -> None:
    bob = auth_server.users["bob"]

    initialized = post(mcp_process, INITIALIZE, bearer(bob))
    added = post(mcp_process, tool_call("add_task", {"title": "mcp milk"}), bearer(bob))
    listed = post(mcp_process, tool_call("list_tasks", {}), bearer(bob))

    assert initialized.status_code == 200, initialized.text
    assert added.json()["result"]["structuredContent"]["status"] == "created"
    titles = [task["title"] for task in listed.json()["result"]["structuredContent"]["tasks"]]
    assert "mcp milk" in titles
    # Stored as bob's, the user of the token: the REST API shows it on his path.
    rest = api.get(f"/api/{bob.id}/tasks", headers=bearer(bob)).json()
    assert "mcp milk" in [task["title"] for task in rest]


def test_the_mcp_server_refuses_a_tampered_better_auth_token(
    mcp_process: ServiceProcess, auth_server: BetterAuthServer
) -> None:
    token = auth_server.users["bob"].token
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")

    response = post(mcp_process, INITIALIZE, {"Authorization": f"Bearer {tampered}"})

    assert response.status_code == 401


def test_chat_forwards_the_better_auth_token_to_the_mcp_server(
    api: TestClient, auth_server: BetterAuthServer
) -> None:
    """The tool runs in the MCP process, which verifies the forwarded token on its own."""
    alice = auth_server.users["alice"]
    scripted = ScriptedModel(
        [
            [function_call("add_task", {"title": "chat milk"}, call_id="call_add")],
            [assistant_message("Added chat milk.")],
        ]
    )
    api.app.dependency_overrides[get_chat_model] = lambda: scripted  # type: ignore[attr-defined]

    response = api.post(
        f"/api/{alice.id}/chat", json={"message": "add chat milk"}, headers=bearer(alice)
    )

    assert response.status_code == 200, response.text
    [call] = response.json()["tool_calls"]
    assert call["tool"] == "add_task"
    assert call["result"]["status"] == "created"
    tasks = api.get(f"/api/{alice.id}/tasks", headers=bearer(alice)).json()
    assert "chat milk" in [task["title"] for task in tasks]


async def test_a_stdio_mcp_client_can_use_a_better_auth_token(
    auth_server: BetterAuthServer, shared_database: str, tmp_path
) -> None:
    """`todo-agent mcp --stdio` (Claude Desktop and friends) with TODO_AGENT_TOKEN from Better Auth."""
    alice = auth_server.users["alice"]
    env = service_env(
        shared_database,
        TEST_SECRET,
        tmp_path / "data",
        TODO_AGENT_TOKEN=alice.token,
        **jwt_env(auth_server),
    )
    params = StdioServerParameters(command=TODO_AGENT, args=["mcp", "--stdio"], env=env)

    async with Client(params, read_timeout_seconds=30) as client:
        added = await client.call_tool("add_task", {"title": "stdio milk"})
        listed = await client.call_tool("list_tasks", {})

    assert added.structured_content is not None
    assert added.structured_content["status"] == "created"
    assert listed.structured_content is not None
    assert "stdio milk" in [task["title"] for task in listed.structured_content["tasks"]]
