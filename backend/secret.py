"""The signing secret: generated once for the embedded default, checked wherever it comes from.

The generated secret is written to a private temporary file, flushed, then linked into place
with `os.link`, which fails if the name exists: the secret file appears complete or not at all,
and when several processes start together exactly one of them creates it while the others read
that one (a plain create-then-write let a reader see an empty file between the two steps).

A secret file that is empty, or that other local users can read, is refused with one line that
says what to do: an empty key would make every token fail (or, with an old PyJWT, let any token
signed with an empty key pass), and a readable one lets anyone on the machine mint tokens.
"""

from __future__ import annotations

import math
import os
import secrets
import stat
from collections import Counter
from pathlib import Path

from backend.config import ConfigError
from backend.datadir import PRIVATE_FILE, private_dir

SECRET_FILE_NAME = "secret"
GENERATED_BYTES = 48
MIN_SECRET_LENGTH = 32
# Estimated from the characters' spread: 32 × "a" has none, a 32-byte random value ~190 bits.
MIN_SECRET_BITS = 128


def estimated_bits(value: str) -> float:
    """Length × the empirical entropy per character: a cheap guard against typed-in secrets."""
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def check_strength(value: str, name: str = "BETTER_AUTH_SECRET") -> str:
    """Refuse a production secret that is short or visibly not random (e.g. 32 × "a")."""
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{name} is shorter than {MIN_SECRET_LENGTH} characters; "
            "use a long random value in production (openssl rand -base64 32)"
        )
    if estimated_bits(value) < MIN_SECRET_BITS:
        raise ConfigError(
            f"{name} does not look random (too few distinct characters); "
            "use a long random value in production (openssl rand -base64 32)"
        )
    return value


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the secret file {path} is readable by others (mode {mode:o}); "
            f"run `chmod 600 {path}` or delete it to have a new one generated"
        )
    value = path.read_text().strip()
    if not value:
        raise ConfigError(
            f"the secret file {path} is empty; delete it to have a new one generated "
            "(tokens signed with the old secret stop working)"
        )
    return value


def read_or_create_secret(data_dir: Path) -> str:
    """The data directory's secret, generated on first use (race-free across processes)."""
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return _read(path)
    private_dir(data_dir)
    temporary = data_dir / f".{SECRET_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(GENERATED_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and fails if another process got there first
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)
