"""Token attacks on every protected route of the API and on the MCP server: each is refused with
401 (403 for a valid token used on another user's path), never a 500, and nothing runs.

`tests/test_auth.py` and `tests/test_mcp_http.py` check the basic cases on one route each; this
matrix adds RS256/HS256 key confusion, an oversized signed token, odd `sub` values, issuer and
audience on the MCP server, and runs every case against every route.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from backend.config import Settings
from backend.migrate import upgrade
from tests.conftest import override_settings
from tests.support.mcp import MCP_HEADERS
from tests.support.processes import ServiceProcess, running, service_env
from tests.support.tokens import TEST_SECRET, b64url, handmade_token, token

USER = "mallory-target"
ISSUER, AUDIENCE = "https://auth.todo.test", "todo-api"
_PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_PUBLIC_PEM = _PRIVATE_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": USER, "iat": now, "exp": now + 600, **overrides}


def bad_tokens() -> dict[str, str]:
    now = int(time.time())
    return {
        "alg none": handmade_token({"alg": "none", "typ": "JWT"}, _claims(), None),
        "alg None (case)": handmade_token({"alg": "None", "typ": "JWT"}, _claims(), None),
        "alg none with a signature": handmade_token(
            {"alg": "none"}, _claims(), TEST_SECRET.encode()
        ),
        "wrong secret": token(USER, secret="not-the-secret-" + "x" * 32),
        "HS256 signed with the RSA public key": handmade_token(
            {"alg": "HS256", "typ": "JWT"}, _claims(), _PUBLIC_PEM
        ),
        "RS256 signed with the private key": jwt.encode(_claims(), _PRIVATE_KEY, "RS256"),
        "expired": token(USER, ttl=-60),
        # (far ahead: these are built at collection, and a busy run can take longer than minutes)
        "not yet valid": token(USER, ttl=60 * 86400, nbf=now + 30 * 86400),
        "no exp": jwt.encode({"sub": USER, "iat": now}, TEST_SECRET, "HS256"),
        "missing sub": jwt.encode({"iat": now, "exp": now + 600}, TEST_SECRET, "HS256"),
        "empty sub": token(""),
        "blank sub": token("   "),
        "numeric sub": jwt.encode(_claims(sub=12345), TEST_SECRET, "HS256"),
        "sub too long": token("u" * 500),
        "signed but 10 kB": token(USER, padding="p" * 10_000),
        "10 kB of junk": "a" * 10_240,
        "header only": b64url(b'{"alg":"HS256"}'),
        "not base64": "%%%.^^^.$$$",
        "truncated": token(USER)[:-10],
        "signature of another token": ".".join(
            token(USER).split(".")[:2] + [token("someone-else").split(".")[2]]
        ),
    }


BAD_TOKENS = bad_tokens()
MALFORMED_HEADERS = {
    "no header": None,
    "scheme only": "Bearer",
    "empty token": "Bearer ",
    "basic": "Basic dXNlcjpwYXNz",
    "token scheme": "Token " + token(USER),
    "no scheme": token(USER),
    "two tokens": f"Bearer {token(USER)} {token(USER)}",
}


def _routes(user: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"/api/{user}/tasks", None),
        ("POST", f"/api/{user}/tasks", {"title": "x"}),
        ("GET", f"/api/{user}/tasks/1", None),
        ("PUT", f"/api/{user}/tasks/1", {"title": "x"}),
        ("DELETE", f"/api/{user}/tasks/1", None),
        ("PATCH", f"/api/{user}/tasks/1/complete", None),
        ("POST", f"/api/{user}/chat", {"message": "add x"}),
        ("POST", f"/api/{user}/chat/stream", {"message": "add x"}),
        ("GET", f"/api/{user}/conversations", None),
        ("GET", f"/api/{user}/conversations/1/messages", None),
        ("DELETE", f"/api/{user}/conversations/1", None),
    ]


@pytest.fixture
def api(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API on SQLite (no database is reached: tokens are checked first)."""
    from backend.main import create_app

    with TestClient(create_app(sqlite_settings), raise_server_exceptions=False) as client:
        yield client


def _all_routes(client: TestClient, authorization: str | None, user: str = USER) -> set:
    headers = {"Authorization": authorization} if authorization is not None else {}
    answers = set()
    for method, url, body in _routes(user):
        response = client.request(method, url, json=body, headers=headers)
        answers.add(
            (
                response.status_code,
                response.headers.get("www-authenticate"),
                "Traceback" in response.text or TEST_SECRET in response.text,
            )
        )
    return answers


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_is_401_on_every_route(api: TestClient, case: str) -> None:
    assert _all_routes(api, f"Bearer {BAD_TOKENS[case]}") == {(401, "Bearer", False)}


@pytest.mark.parametrize("case", MALFORMED_HEADERS)
def test_a_malformed_authorization_header_is_401_on_every_route(api: TestClient, case: str) -> None:
    assert _all_routes(api, MALFORMED_HEADERS[case]) == {(401, "Bearer", False)}


def test_a_valid_token_for_another_user_is_403_on_every_route(api: TestClient) -> None:
    assert _all_routes(api, f"Bearer {token('someone-else')}") == {(403, None, False)}


def test_nothing_was_stored_by_any_refused_request(api: TestClient) -> None:
    for case in BAD_TOKENS:
        _all_routes(api, f"Bearer {BAD_TOKENS[case]}")
    headers = {"Authorization": f"Bearer {token(USER)}"}
    assert api.get(f"/api/{USER}/tasks", headers=headers).json() == []
    assert api.get(f"/api/{USER}/conversations", headers=headers).json()["total"] == 0


def test_issuer_and_audience_are_enforced_on_every_route(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(api.app, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    for claims in (
        {"iss": "https://evil.test", "aud": AUDIENCE},
        {"iss": ISSUER, "aud": "other"},
        {"iss": ISSUER},
        {"aud": AUDIENCE},
        {},
    ):
        assert _all_routes(api, f"Bearer {token(USER, **claims)}") == {(401, "Bearer", False)}
    good = f"Bearer {token(USER, iss=ISSUER, aud=AUDIENCE)}"
    assert api.get(f"/api/{USER}/tasks", headers={"Authorization": good}).status_code == 200


# --- the MCP server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_with_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """An MCP process on SQLite that also requires an issuer and an audience."""
    folder = tmp_path_factory.mktemp("mcp-iss")
    url = f"sqlite:///{folder / 'todo.db'}"
    upgrade(url)
    env = service_env(url, TEST_SECRET, folder / "data", JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)
    with running("mcp", env, folder) as service:
        yield service


def _mcp_answers(service: ServiceProcess, authorization: str | None) -> set:
    headers = {**MCP_HEADERS, **({"Authorization": authorization} if authorization else {})}
    add = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": "forged"}},
    }
    listing = {**add, "params": {"name": "list_tasks", "arguments": {}}}
    answers = set()
    for body in (add, listing):
        response = httpx.post(service.url, json=body, headers=headers, timeout=10)
        answers.add((response.status_code, "Traceback" in response.text))
    return answers


def test_the_mcp_server_refuses_every_bad_token_and_runs_nothing(
    mcp_with_issuer: ServiceProcess,
) -> None:
    good = {"iss": ISSUER, "aud": AUDIENCE}
    cases = {
        **{name: f"Bearer {value}" for name, value in BAD_TOKENS.items()},
        # (a header value ending in a space cannot go over a real connection: httpx refuses it)
        **{name: value for name, value in MALFORMED_HEADERS.items() if name != "empty token"},
        "wrong issuer": f"Bearer {token(USER, iss='https://evil.test', aud=AUDIENCE)}",
        "wrong audience": f"Bearer {token(USER, iss=ISSUER, aud='other')}",
        "no issuer or audience": f"Bearer {token(USER)}",
    }
    answers = {name: _mcp_answers(mcp_with_issuer, value) for name, value in cases.items()}
    assert answers == {name: {(401, False)} for name in cases}
    listed = httpx.post(
        mcp_with_issuer.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "list_tasks", "arguments": {}},
        },
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token(USER, **good)}"},
        timeout=10,
    )
    assert listed.status_code == 200
    assert listed.json()["result"]["structuredContent"] == {"tasks": [], "count": 0}
    assert "Traceback" not in mcp_with_issuer.log()
