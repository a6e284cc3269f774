"""Tokens signed by a key from `JWT_JWKS_URL` (EdDSA, ES256, RS256 by `kid`), beside HS256.

The keys are made here with `cryptography` and served by a loopback JWKS endpoint that a test
can rotate or stop; the real Better Auth is in test_jwks_betterauth.py. The key set's clock is
a fake one the tests move forward, so cooldowns and ages are exact, not waited for.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from pydantic import ValidationError

import backend.auth
from backend.auth import (
    JWKS_COOLDOWN_SECONDS,
    JWKS_MAX_AGE_SECONDS,
    AuthError,
    JwksKeySet,
    jwks_key_set,
    verify_token,
    verify_token_async,
)
from backend.config import Settings, get_settings
from mcp_server.auth import JWTTokenVerifier
from tests.betterauth.support import JwksServer, SigningKey, claims_for, jwks_server
from tests.conftest import TEST_SECRET


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def fresh_key_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no key set cached in the process."""
    monkeypatch.setattr(backend.auth, "_key_sets", {})


@pytest.fixture
def ed_key() -> SigningKey:
    return SigningKey("EdDSA")


@pytest.fixture
def jwks(ed_key: SigningKey) -> Iterator[JwksServer]:
    with jwks_server([ed_key]) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwks_settings(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch, jwks: JwksServer, clock: FakeClock
) -> Settings:
    """Settings with JWT_JWKS_URL at the loopback endpoint; its key set runs on `clock`."""
    monkeypatch.setenv("JWT_JWKS_URL", jwks.url)
    get_settings.cache_clear()
    backend.auth._key_sets[jwks.url] = JwksKeySet(jwks.url, clock=clock)
    return get_settings()


def key_set(settings: Settings) -> JwksKeySet:
    assert settings.jwt_jwks_url is not None
    return jwks_key_set(settings.jwt_jwks_url)


def reason(token: str, settings: Settings) -> str:
    with pytest.raises(AuthError) as caught:
        verify_token(token, settings)
    return str(caught.value)


# --- what is accepted ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_a_token_signed_by_a_published_key_is_accepted(
    algorithm: str, jwks: JwksServer, jwks_settings: Settings
) -> None:
    signing_key = SigningKey(algorithm)
    jwks.keys = [SigningKey("EdDSA"), signing_key]

    principal = verify_token(signing_key.sign(claims_for("alice")), jwks_settings)

    assert principal.user_id == "alice"


def test_the_shared_secret_keeps_working_beside_the_jwks(jwks_settings: Settings) -> None:
    token = jwt.encode(claims_for("alice"), TEST_SECRET, algorithm="HS256")

    assert verify_token(token, jwks_settings).user_id == "alice"


def test_the_key_is_chosen_by_kid(jwks: JwksServer, jwks_settings: Settings) -> None:
    first, second = SigningKey("EdDSA"), SigningKey("EdDSA")
    jwks.keys = [first, second]
    # Signed by `first` but naming `second`: the signature does not match the key named.
    forged = SigningKey("EdDSA", kid=second.kid, private_key=first.private_key)

    assert verify_token(second.sign(claims_for("alice")), jwks_settings).user_id == "alice"
    assert reason(forged.sign(claims_for("alice")), jwks_settings) == "Invalid token"


def test_issuer_and_audience_are_checked_when_set(
    ed_key: SigningKey, jwks_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Better Auth puts in its tokens: iss = aud = its base URL.
    monkeypatch.setenv("JWT_ISSUER", "http://localhost:3000")
    monkeypatch.setenv("JWT_AUDIENCE", "http://localhost:3000")
    get_settings.cache_clear()
    settings = get_settings()
    right = {"iss": "http://localhost:3000", "aud": "http://localhost:3000"}

    assert verify_token(ed_key.sign(claims_for("alice", **right)), settings).user_id == "alice"
    wrong_audience = claims_for("alice", iss="http://localhost:3000", aud="http://elsewhere")
    assert reason(ed_key.sign(wrong_audience), settings) == "Invalid token"
    wrong_issuer = claims_for("alice", iss="http://elsewhere", aud="http://localhost:3000")
    assert reason(ed_key.sign(wrong_issuer), settings) == "Invalid token"


# --- what is refused -----------------------------------------------------------------------


def test_a_tampered_signature_is_refused(ed_key: SigningKey, jwks_settings: Settings) -> None:
    header, payload, signature = ed_key.sign(claims_for("alice")).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    assert reason(f"{header}.{payload}.{flipped}", jwks_settings) == "Invalid token"


def test_a_tampered_payload_is_refused(ed_key: SigningKey, jwks_settings: Settings) -> None:
    header, _, signature = ed_key.sign(claims_for("alice")).split(".")
    _, other_payload, _ = ed_key.sign(claims_for("mallory")).split(".")

    assert reason(f"{header}.{other_payload}.{signature}", jwks_settings) == "Invalid token"


def test_an_expired_token_is_refused(ed_key: SigningKey, jwks_settings: Settings) -> None:
    token = ed_key.sign(claims_for("alice", ttl=-60))

    assert reason(token, jwks_settings) == "Token expired"


def test_a_token_without_sub_or_exp_is_refused(ed_key: SigningKey, jwks_settings: Settings) -> None:
    now = int(time.time())

    assert reason(ed_key.sign({"exp": now + 60}), jwks_settings) == "Invalid token"
    assert reason(ed_key.sign({"sub": "alice"}), jwks_settings) == "Invalid token"


def test_alg_none_is_refused_even_with_a_known_kid(
    ed_key: SigningKey, jwks_settings: Settings
) -> None:
    token = jwt.encode(claims_for("alice"), None, algorithm="none", headers={"kid": ed_key.kid})

    assert reason(token, jwks_settings) == "Invalid token"


def hmac_token(claims: dict, secret: bytes, algorithm: str, kid: str) -> str:
    """An HMAC token made by hand: PyJWT itself refuses to sign with a PEM key as a secret."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": algorithm, "typ": "JWT", "kid": kid}).encode())
    payload = part(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), digest[algorithm[:5]]).digest()
    return f"{header}.{payload}.{part(mac)}"


def test_a_public_key_is_never_used_as_an_hmac_secret(
    jwks: JwksServer, jwks_settings: Settings
) -> None:
    """The classic confusion: HS256 "signed" with the published public key as the secret."""
    rsa_key = SigningKey("RS256")
    jwks.keys = [rsa_key]
    verify_token(rsa_key.sign(claims_for("alice")), jwks_settings)  # the key set is cached
    pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for algorithm in ("HS256", "HS384", "HS512"):
        forged = hmac_token(claims_for("alice"), pem, algorithm, rsa_key.kid)
        assert reason(forged, jwks_settings) == "Invalid token"


def test_a_key_is_used_only_with_its_own_algorithm(
    jwks: JwksServer, jwks_settings: Settings
) -> None:
    es_key = SigningKey("ES256")
    jwks.keys = [es_key]
    # ES256 key, header claiming RS256 with the same kid.
    header_lie = jwt.encode(
        claims_for("alice"),
        SigningKey("RS256").private_key,
        algorithm="RS256",
        headers={"kid": es_key.kid},
    )

    assert reason(header_lie, jwks_settings) == "Invalid token"


def test_symmetric_and_unknown_keys_in_the_jwks_are_ignored(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings
) -> None:
    """A JWKS that (wrongly) publishes an `oct` key does not turn it into an accepted key."""
    secret_jwk = {
        "kty": "oct",
        "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
        "kid": "shared",
    }
    key_set(jwks_settings)._client.fetch_data = lambda: {  # type: ignore[method-assign]
        "keys": [secret_jwk, ed_key.jwk()]
    }
    forged = jwt.encode(
        claims_for("alice"),
        b"secret-secret-secret-secret-secret",
        algorithm="HS256",
        headers={"kid": "shared"},
    )

    assert verify_token(ed_key.sign(claims_for("alice")), jwks_settings).user_id == "alice"
    assert key_set(jwks_settings).cached("shared") is None
    assert reason(forged, jwks_settings) == "Invalid token"


def test_an_asymmetric_token_is_refused_when_no_jwks_is_configured(
    ed_key: SigningKey, sqlite_settings: Settings
) -> None:
    assert reason(ed_key.sign(claims_for("alice")), sqlite_settings) == "Invalid token"


def test_a_token_without_kid_is_refused(ed_key: SigningKey, jwks_settings: Settings) -> None:
    token = jwt.encode(claims_for("alice"), ed_key.private_key, algorithm="EdDSA")

    assert reason(token, jwks_settings) == "Invalid token"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.test/jwks", "localhost:3000/api/auth/jwks"]
)
def test_only_http_urls_are_accepted_as_jwks_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_JWKS_URL", url)

    with pytest.raises(ValidationError, match="JWT_JWKS_URL must be an http"):
        Settings()


# --- the cache: rotation, unknown kid, outage ---------------------------------------------


def test_a_cached_key_is_used_without_fetching_again(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings
) -> None:
    for _ in range(5):
        verify_token(ed_key.sign(claims_for("alice")), jwks_settings)

    assert jwks.requests == 1


def test_a_rotated_key_is_fetched_once_the_cooldown_has_passed(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings, clock: FakeClock
) -> None:
    assert verify_token(ed_key.sign(claims_for("alice")), jwks_settings)
    new_key = SigningKey("EdDSA")
    jwks.keys = [ed_key, new_key]  # Better Auth keeps the old key during its grace period

    clock.advance(JWKS_COOLDOWN_SECONDS)
    assert verify_token(new_key.sign(claims_for("alice")), jwks_settings).user_id == "alice"
    assert verify_token(ed_key.sign(claims_for("alice")), jwks_settings).user_id == "alice"
    assert jwks.requests == 2


def test_unknown_kids_refetch_at_most_once_per_cooldown(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings, clock: FakeClock
) -> None:
    verify_token(ed_key.sign(claims_for("alice")), jwks_settings)
    clock.advance(JWKS_COOLDOWN_SECONDS)
    strangers = [SigningKey("EdDSA") for _ in range(20)]

    for stranger in strangers:
        assert reason(stranger.sign(claims_for("alice")), jwks_settings) == "Invalid token"

    assert jwks.requests == 2  # the first fetch, and one for the first unknown kid
    clock.advance(JWKS_COOLDOWN_SECONDS)
    assert reason(strangers[0].sign(claims_for("alice")), jwks_settings) == "Invalid token"
    assert jwks.requests == 3


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_key_removed_from_the_jwks_stops_working_after_the_background_refresh(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings, clock: FakeClock
) -> None:
    verify_token(ed_key.sign(claims_for("alice")), jwks_settings)
    jwks.keys = [SigningKey("EdDSA")]  # the old key is revoked
    clock.advance(JWKS_MAX_AGE_SECONDS)

    # Stale: this request is served from the cache and starts a refresh in the background.
    assert verify_token(ed_key.sign(claims_for("alice")), jwks_settings).user_id == "alice"
    wait_for(lambda: key_set(jwks_settings).cached(ed_key.kid) is None, "the refresh")

    assert reason(ed_key.sign(claims_for("alice")), jwks_settings) == "Invalid token"
    assert jwks.requests == 2


def test_fetched_keys_keep_working_while_the_jwks_endpoint_is_down(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings, clock: FakeClock
) -> None:
    verify_token(ed_key.sign(claims_for("alice")), jwks_settings)
    jwks.stop()
    keys = key_set(jwks_settings)

    clock.advance(JWKS_MAX_AGE_SECONDS)  # stale: the refresh is tried, fails, keys are kept
    keys.refresh()
    assert keys.fetch_count == 2
    assert verify_token(ed_key.sign(claims_for("alice")), jwks_settings).user_id == "alice"
    # A key never seen cannot be fetched: refused, and quickly (the port is closed).
    clock.advance(JWKS_COOLDOWN_SECONDS)
    assert reason(SigningKey("EdDSA").sign(claims_for("alice")), jwks_settings) == "Invalid token"
    assert keys.fetch_count == 3
    assert verify_token(ed_key.sign(claims_for("alice")), jwks_settings).user_id == "alice"


def test_a_jwks_endpoint_down_from_the_start_refuses_tokens_cleanly(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings
) -> None:
    jwks.stop()

    assert reason(ed_key.sign(claims_for("alice")), jwks_settings) == "Invalid token"


# --- the event loop is never blocked by a fetch ----------------------------------------------


async def test_async_verification_fetches_on_a_worker_thread_and_not_on_a_cache_hit(
    ed_key: SigningKey, jwks_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = key_set(jwks_settings)
    fetched_on: list[threading.Thread] = []
    real_refresh = keys.refresh

    def recording_refresh(wanted_kid: str | None = None) -> None:
        fetched_on.append(threading.current_thread())
        real_refresh(wanted_kid)

    monkeypatch.setattr(keys, "refresh", recording_refresh)
    token = ed_key.sign(claims_for("alice"))

    assert (await verify_token_async(token, jwks_settings)).user_id == "alice"
    assert (await verify_token_async(token, jwks_settings)).user_id == "alice"

    assert len(fetched_on) == 1  # the second call was a cache hit
    assert fetched_on[0] is not threading.current_thread()  # not the event loop's thread


async def test_concurrent_requests_for_a_new_key_share_one_fetch(
    ed_key: SigningKey, jwks: JwksServer, jwks_settings: Settings
) -> None:
    token = ed_key.sign(claims_for("alice"))

    principals = await asyncio.gather(*(verify_token_async(token, jwks_settings) for _ in range(8)))

    assert {principal.user_id for principal in principals} == {"alice"}
    assert jwks.requests == 1


async def test_the_mcp_server_verifies_exactly_like_the_api(
    ed_key: SigningKey, jwks_settings: Settings
) -> None:
    verifier = JWTTokenVerifier(jwks_settings)
    good = ed_key.sign(claims_for("alice"))
    expired = ed_key.sign(claims_for("alice", ttl=-60))

    access = await verifier.verify_token(good)
    assert access is not None and access.subject == "alice"
    assert await verifier.verify_token(expired) is None
    assert await verifier.verify_token(SigningKey("EdDSA").sign(claims_for("alice"))) is None


# --- over HTTP -----------------------------------------------------------------------------


@pytest.fixture
def jwks_client(jwks_settings: Settings) -> Iterator[TestClient]:
    from backend.main import create_app

    with TestClient(create_app(jwks_settings)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rest_accepts_a_jwks_token_for_its_own_user_only(
    ed_key: SigningKey, jwks_client: TestClient
) -> None:
    headers = bearer(ed_key.sign(claims_for("alice")))

    created = jwks_client.post("/api/alice/tasks", json={"title": "buy milk"}, headers=headers)
    assert created.status_code == 201, created.text
    listed = jwks_client.get("/api/alice/tasks", headers=headers)
    assert [task["title"] for task in listed.json()] == ["buy milk"]
    other = jwks_client.get("/api/bob/tasks", headers=headers)
    assert other.status_code == 403


@pytest.mark.parametrize("case", ["tampered", "expired", "unknown kid"])
def test_rest_answers_401_for_a_bad_jwks_token(
    case: str, ed_key: SigningKey, jwks_client: TestClient
) -> None:
    token = {
        "tampered": ed_key.sign(claims_for("alice"))[:-4] + "AAAA",
        "expired": ed_key.sign(claims_for("alice", ttl=-60)),
        "unknown kid": SigningKey("EdDSA").sign(claims_for("alice")),
    }[case]

    response = jwks_client.get("/api/alice/tasks", headers=bearer(token))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
