"""The test signing secret, and tokens signed with it as Better Auth would sign them."""

from __future__ import annotations

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
