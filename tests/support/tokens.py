"""The test signing secret, and tokens signed with it as Better Auth would sign them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt

# One secret per test session: the in-process app and every child process are given it.
TEST_SECRET = "test-secret-" + secrets.token_hex(24)


def token(user: str, ttl: int = 3600, secret: str = TEST_SECRET, **claims: Any) -> str:
    """An HS256 token for `user`, valid for `ttl` seconds (negative: already expired)."""
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + ttl, **claims}, secret, "HS256")


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade_token(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand: PyJWT refuses to sign `alg: none` variants or with a PEM as secret.

    With `key`, signed with HMAC-SHA256 whatever the header says; without, unsigned.
    """
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned_token(user: str) -> str:
    """An `alg: none` token for `user`: well formed, valid for an hour, and never accepted."""
    header = {"alg": "none", "typ": "JWT"}
    return handmade_token(header, {"sub": user, "exp": int(time.time()) + 3600}, None)
