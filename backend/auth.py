"""JWT verification shared by the HTTP API and the MCP server, and token minting.

Tokens are HS256, signed with the secret the Better Auth frontend shares; the user is `sub`.
The algorithm list is explicit so `alg: none` and RS256/HS256 confusion are rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from backend.config import Settings, resolve_secret

ALGORITHMS = ["HS256"]
MAX_TOKEN_LENGTH = 8192
MAX_SUBJECT_LENGTH = 128
# Accepted past `exp`, for clock skew. The MCP server reports the same expiry to its SDK, so a
# token the API accepts is never refused by the task server in the middle of a turn.
JWT_LEEWAY_SECONDS = 5


class AuthError(Exception):
    """The token is missing or not acceptable. The message is safe to show to the caller."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    token: str
    expires_at: int


def verify_token(token: str, settings: Settings) -> Principal:
    if not token:
        raise AuthError("Missing bearer token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthError("Token too large")
    try:
        claims = jwt.decode(
            token,
            resolve_secret(settings),
            algorithms=ALGORITHMS,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
            leeway=JWT_LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("Token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("Invalid token") from exc
    subject = claims.get("sub")
    if not usable_subject(subject):
        raise AuthError("Invalid token subject")
    return Principal(user_id=subject, token=token, expires_at=int(claims["exp"]))


def usable_subject(subject: object) -> bool:
    """A user id that can be one segment of `/api/{user_id}/...` and be stored anywhere.

    Refused: not a string, blank, too long, control characters (NUL broke PostgreSQL queries),
    lone surrogates, "/" or "\\", and the segments "." and ".." (clients normalise them away).
    """
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        return False
    if subject in {".", ".."} or "/" in subject or "\\" in subject:
        return False
    if any(
        ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF for char in subject
    ):
        return False
    return True


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header value; AuthError otherwise."""
    if not authorization:
        raise AuthError("Missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token.strip()


def mint_token(user_id: str, settings: Settings, ttl_seconds: int = 3600) -> str:
    """A token the service itself accepts: for `todo-agent token`, the demo link and tests."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, resolve_secret(settings), algorithm="HS256")
