"""Token issuers for the JWKS tests.

- `SigningKey` / `JwksServer`: asymmetric keys made with `cryptography` and a tiny loopback
  JWKS endpoint whose key list a test can change (rotation) or stop (an outage).
- `better_auth`: the real `better-auth` npm package (`server.mjs` beside this file) on a free
  loopback port, with users signed up and their tokens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

HERE = Path(__file__).resolve().parent


@dataclass
class SigningKey:
    """One key pair; `jwk()` is its public half as a JWKS entry."""

    algorithm: str  # EdDSA, ES256 or RS256
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    private_key: Any = None

    def __post_init__(self) -> None:
        if self.private_key is None:
            self.private_key = {
                "EdDSA": lambda: ed25519.Ed25519PrivateKey.generate(),
                "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
                "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            }[self.algorithm]()

    def jwk(self, **extra: Any) -> dict[str, Any]:
        codec = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm, "RS256": RSAAlgorithm}
        public = codec[self.algorithm].to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig", **extra}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )


def claims_for(user: str, ttl: int = 900, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + ttl, **extra}


class JwksServer:
    """A loopback JWKS endpoint serving `keys` (a list a test may replace at any time)."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = json.dumps({"keys": [key.jwk() for key in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/auth/jwks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering: the port is closed, so a fetch is refused at once."""
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def jwks_server(keys: list[SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer(keys)
    try:
        yield server
    finally:
        server.stop()


# --- the real Better Auth -----------------------------------------------------------------


@dataclass(frozen=True)
class BetterAuthUser:
    id: str
    email: str
    password: str
    token: str


@dataclass(frozen=True)
class BetterAuthServer:
    base_url: str
    jwks_url: str
    users: dict[str, BetterAuthUser]


def better_auth_unavailable() -> str | None:
    """Why the real Better Auth cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "Node.js is not installed (the Better Auth tests run the real npm package)"
    if not (HERE / "node_modules" / "better-auth").is_dir():
        return f"the npm packages are not installed: run `npm ci` in {HERE}"
    return None


@contextmanager
def better_auth(*users: str, timeout: float = 60) -> Iterator[BetterAuthServer]:
    """`node server.mjs USERS...` on a free loopback port, until the block ends."""
    errors = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: it never fills up
    process = subprocess.Popen(
        ["node", str(HERE / "server.mjs"), *users],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready: dict[str, str] = {}

        def read_first_line() -> None:
            ready["line"] = process.stdout.readline()  # type: ignore[union-attr]

        reader = threading.Thread(target=read_first_line, daemon=True)
        reader.start()
        reader.join(timeout)
        line = ready.get("line", "")
        if not line:
            process.kill()
            process.wait(5)
            errors.seek(0)
            raise RuntimeError(f"Better Auth did not start: {errors.read()[-2000:]}")
        started = json.loads(line)
        yield BetterAuthServer(
            base_url=started["base_url"],
            jwks_url=started["jwks_url"],
            users={name: BetterAuthUser(**user) for name, user in started["users"].items()},
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        errors.close()
