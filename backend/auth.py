"""JWT verification shared by the HTTP API and the MCP server, and token minting.

Two kinds of token are accepted, told apart by the `alg` of their header:

- HS256, signed with `BETTER_AUTH_SECRET` (what `todo-agent token` mints, or a frontend that
  signs its own tokens with the shared secret);
- EdDSA, ES256 or RS256, signed by a key published at `JWT_JWKS_URL` and chosen by the token's
  `kid` (Better Auth's `jwt` plugin: EdDSA / Ed25519 by default).

Both lists are explicit: `alg: none` is never accepted, and a public key from the JWKS is never
used as an HMAC secret (a JWKS key is used only with the one asymmetric algorithm it is for).
The user is `sub`; `exp` is required; `JWT_ISSUER` / `JWT_AUDIENCE` are checked when set.

`verify_token_async` is the one for request handlers: a key already cached is used at once,
and the only network call, fetching the key set for an unknown `kid`, runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
from jwt import PyJWK, PyJWKClient

from backend.config import Settings, resolve_secret

SECRET_ALGORITHMS = ["HS256"]
JWKS_ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256"})
MAX_TOKEN_LENGTH = 8192
MAX_SUBJECT_LENGTH = 128
# Accepted past `exp`, for clock skew. The MCP server reports the same expiry to its SDK, so a
# token the API accepts is never refused by the task server in the middle of a turn.
LEEWAY_SECONDS = 5

# The key set: fetched on first use, again for a `kid` it does not hold (a rotated key) but at
# most once per cooldown, and in the background once older than its maximum age (a removed key
# stops working). A failed fetch keeps the keys already fetched. The same figures as `jose`'s
# createRemoteJWKSet, which Better Auth itself uses.
JWKS_FETCH_TIMEOUT_SECONDS = 5.0
JWKS_COOLDOWN_SECONDS = 30.0
JWKS_MAX_AGE_SECONDS = 600.0

log = logging.getLogger(__name__)


class AuthError(Exception):
    """The token is missing or not acceptable. The message is safe to show to the caller."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    token: str
    expires_at: int


class JwksKeySet:
    """The signing keys published at one JWKS URL, by `kid`, cached in this process.

    Thread-safe. `cached` never does I/O; `refresh` is the blocking fetch (PyJWKClient's
    urllib, with a timeout and no redirects), done by one thread at a time.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = JWKS_FETCH_TIMEOUT_SECONDS,
        cooldown: float = JWKS_COOLDOWN_SECONDS,
        max_age: float = JWKS_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # PyJWKClient refuses anything but http(s) URLs; its own cache is off because it drops
        # the keys when a refetch fails, and the keys must outlive an outage of the endpoint.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self.url = url
        self.cooldown, self.max_age, self.clock = cooldown, max_age, clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._fetch_lock = threading.Lock()
        self.fetch_count = 0  # successful and failed fetches, for tests and diagnostics

    def cached(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)

    def fetch_due(self) -> bool:
        """May a fetch happen now? Not within the cooldown of the last attempt."""
        attempted = self._attempted_at
        return attempted is None or self.clock() - attempted >= self.cooldown

    def stale(self) -> bool:
        fetched = self._fetched_at
        return fetched is not None and self.clock() - fetched >= self.max_age

    def fetching(self) -> bool:
        return self._fetch_lock.locked()

    def refresh(self, wanted_kid: str | None = None) -> None:
        """Fetch the key set (blocking) unless another thread just did or the cooldown holds."""
        with self._fetch_lock:
            if wanted_kid is not None and wanted_kid in self._keys and not self.stale():
                return  # fetched by the thread we waited for
            if not self.fetch_due():
                return
            self._attempted_at = self.clock()
            self.fetch_count += 1
            try:
                signing_keys = self._client.get_signing_keys(refresh=True)
            except jwt.PyJWTError as exc:
                # Down, slow, or answering garbage: keep every key fetched before.
                log.warning(
                    "the JWKS could not be fetched; keeping the keys fetched before",
                    extra={"error_type": type(exc).__name__, "keys_kept": len(self._keys)},
                )
                return
            self._keys = {
                key.key_id: key
                for key in signing_keys
                if key.key_id and key.algorithm_name in JWKS_ALGORITHMS
            }
            self._fetched_at = self.clock()

    def refresh_in_background(self) -> None:
        if self.fetch_due() and not self.fetching():
            threading.Thread(target=self.refresh, name="jwks-refresh", daemon=True).start()


_key_sets: dict[str, JwksKeySet] = {}
_key_sets_lock = threading.Lock()


def jwks_key_set(url: str) -> JwksKeySet:
    """The process-wide key set of `url` (one per URL, so its cache is shared by all requests)."""
    with _key_sets_lock:
        key_set = _key_sets.get(url)
        if key_set is None:
            key_set = _key_sets[url] = JwksKeySet(url)
        return key_set


@dataclass(frozen=True)
class _Header:
    algorithm: str
    kid: str | None


def _header(token: str) -> _Header:
    if not token:
        raise AuthError("Missing bearer token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthError("Token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError("Invalid token") from exc
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or (kid is not None and not isinstance(kid, str)):
        raise AuthError("Invalid token")
    return _Header(algorithm, kid)


def _decode(token: str, key: Any, algorithm: str, settings: Settings) -> Principal:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("Token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("Invalid token") from exc
    subject = claims.get("sub")
    if not usable_subject(subject):
        raise AuthError("Invalid token subject")
    return Principal(user_id=subject, token=token, expires_at=int(claims["exp"]))


def usable_subject(subject: object) -> TypeGuard[str]:
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


def _jwks_for(header: _Header, settings: Settings) -> tuple[JwksKeySet, str]:
    """The key set to look the token's key up in; AuthError when that cannot be."""
    if header.algorithm not in JWKS_ALGORITHMS or not settings.jwt_jwks_url:
        raise AuthError("Invalid token")  # `none`, HS384, ... or no JWKS configured
    if not header.kid:
        raise AuthError("Invalid token")
    return jwks_key_set(settings.jwt_jwks_url), header.kid


def _verify_with_jwks_key(
    token: str, header: _Header, key: PyJWK | None, key_set: JwksKeySet, settings: Settings
) -> Principal:
    if key is None:
        raise AuthError("Invalid token")  # no such key, even after looking again
    if key_set.stale():
        key_set.refresh_in_background()  # keep serving with the cached key meanwhile
    if key.algorithm_name != header.algorithm:
        raise AuthError("Invalid token")  # a key is used only with its own algorithm
    return _decode(token, key.key, header.algorithm, settings)


def verify_token(token: str, settings: Settings) -> Principal:
    """Verify a token; may fetch the JWKS inline (blocking). In async code use the async one."""
    header = _header(token)
    if header.algorithm in SECRET_ALGORITHMS:
        return _decode(token, resolve_secret(settings), header.algorithm, settings)
    key_set, kid = _jwks_for(header, settings)
    key = key_set.cached(kid)
    if key is None and (key_set.fetch_due() or key_set.fetching()):
        key_set.refresh(kid)
        key = key_set.cached(kid)
    return _verify_with_jwks_key(token, header, key, key_set, settings)


async def verify_token_async(token: str, settings: Settings) -> Principal:
    """Verify a token without blocking the event loop: a JWKS fetch runs on a worker thread."""
    header = _header(token)
    if header.algorithm in SECRET_ALGORITHMS:
        return _decode(token, resolve_secret(settings), header.algorithm, settings)
    key_set, kid = _jwks_for(header, settings)
    key = key_set.cached(kid)
    if key is None and (key_set.fetch_due() or key_set.fetching()):
        # Also when another request is fetching right now: wait for its answer.
        await asyncio.to_thread(key_set.refresh, kid)
        key = key_set.cached(kid)
    return _verify_with_jwks_key(token, header, key, key_set, settings)


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
