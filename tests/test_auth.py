"""JWT verification on the HTTP API: 401 for every bad token, 403 for another user's path."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.conftest import TEST_SECRET, override_settings
from tests.support.users import random_user


def _token(claims: dict, key: str = TEST_SECRET, algorithm: str = "HS256", **kw) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, **kw)


def _claims(user: str, **overrides) -> dict:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, **overrides}


def _bad_tokens(user: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "alg none": jwt.encode(_claims(user), None, algorithm="none"),
        "wrong secret": _token(_claims(user), key="not-the-secret-" * 3),
        "expired": _token(_claims(user, exp=now - 60)),
        "missing sub": _token({"iat": now, "exp": now + 600}),
        "empty sub": _token(_claims(user, sub="")),
        "missing exp": _token({"sub": user, "iat": now}),
        "not yet valid": _token(_claims(user, nbf=now + 600)),
        "garbage": "not.a.jwt",
        "huge": "a" * 10_000,
    }


@pytest.mark.parametrize(
    "case",
    [
        "alg none",
        "wrong secret",
        "expired",
        "missing sub",
        "empty sub",
        "missing exp",
        "not yet valid",
        "garbage",
        "huge",
    ],
)
def test_bad_token_is_401_with_www_authenticate(client, case):
    user = random_user()
    token = _bad_tokens(user)[case]
    response = client.get(f"/api/{user}/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Token x.y.z", "Bearer "])
def test_missing_or_malformed_header_is_401(client, header):
    user = random_user()
    headers = {"Authorization": header} if header is not None else {}
    response = client.get(f"/api/{user}/tasks", headers=headers)
    assert response.status_code == 401


def test_token_for_another_user_path_is_403(client, auth_headers):
    alice, bob = random_user(), random_user()
    response = client.get(f"/api/{alice}/tasks", headers=auth_headers(bob))
    assert response.status_code == 403
    response = client.post(f"/api/{alice}/tasks", json={"title": "x"}, headers=auth_headers(bob))
    assert response.status_code == 403
    assert client.get(f"/api/{alice}/tasks", headers=auth_headers(alice)).json() == []


def test_valid_token_is_accepted(client, auth_headers):
    user = random_user()
    assert client.get(f"/api/{user}/tasks", headers=auth_headers(user)).status_code == 200


def test_issuer_and_audience_enforced_when_configured(client, monkeypatch):
    override_settings(client.app, jwt_issuer="https://auth.example", jwt_audience="todo-api")
    user = random_user()
    good = _token(_claims(user, iss="https://auth.example", aud="todo-api"))
    wrong_iss = _token(_claims(user, iss="https://evil.example", aud="todo-api"))
    wrong_aud = _token(_claims(user, iss="https://auth.example", aud="other"))
    no_claims = _token(_claims(user))
    url = f"/api/{user}/tasks"
    assert client.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    for token in (wrong_iss, wrong_aud, no_claims):
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_rs256_token_is_rejected(client):
    """An asymmetric token is refused: only HS256 is on the algorithm list."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    user = random_user()
    token = jwt.encode(_claims(user), key, algorithm="RS256")
    response = client.get(f"/api/{user}/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
