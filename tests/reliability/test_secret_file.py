"""The generated secret and the data directory: race-free, never empty, private.

Issue 16 (4) and (5): three processes started together read an empty secret 19 % of the time; an
empty or world-readable secret file was used silently; the data directory was 0755 and the
database files 0644.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from tests.support.processes import PROJECT_ROOT, run_cli, running, service_env

PROCESSES = 4
ROUNDS = 60

# Each process waits for the start time of round r, then asks for the secret of folder r, so
# the processes race on every folder at once. It prints one value (or error name) per round.
RACER = """
import sys, time
from pathlib import Path
from backend.secret import read_or_create_secret
base, start, rounds = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
seen = []
for r in range(rounds):
    while time.time() < start + r * 0.05:
        pass
    try:
        seen.append(read_or_create_secret(base / str(r)) or "EMPTY")
    except Exception as exc:
        seen.append("ERROR:" + type(exc).__name__)
print(" ".join(seen))
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    env = service_env("", "unused", tmp_path / "data")
    del env["BETTER_AUTH_SECRET"], env["DATABASE_URL"]
    return env


def test_processes_started_together_all_read_the_same_complete_secret(tmp_path: Path) -> None:
    start = time.time() + 3  # time for every interpreter to import the module first
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), str(start), str(ROUNDS)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [racer.communicate(timeout=60)[0].split() for racer in racers]
    assert all(len(output) == ROUNDS for output in outputs)
    for folder, values in enumerate(zip(*outputs, strict=True)):
        on_disk = (tmp_path / str(folder) / "secret").read_text()
        assert set(values) == {on_disk}, (folder, values)
        assert len(on_disk) >= 32
    assert not [path for path in tmp_path.rglob(".secret*")]  # no temporary file left behind


@pytest.mark.parametrize("problem", ["empty", "readable by others"])
def test_a_bad_secret_file_is_refused_with_one_clear_line(tmp_path: Path, problem: str) -> None:
    env = _embedded_env(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    secret = data / "secret"
    if problem == "empty":
        secret.write_text("\n")
        secret.chmod(0o600)
    else:
        secret.write_text("r" * 64)
        secret.chmod(0o644)
    for command in (["token", "demo"], ["api", "--port", "1"], ["mcp", "--port", "1"]):
        out = run_cli(*command, env=env)
        assert out.returncode not in (0, None), (command, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and str(secret) in lines[0] and problem in lines[0], lines
        assert out.stdout == ""


def test_the_data_directory_and_database_files_are_private(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path)
    data = tmp_path / "data"
    assert run_cli("migrate", env=env).returncode == 0
    with running("api", env, tmp_path) as api:
        minted = run_cli("token", "demo", env=env).stdout.strip()
        import httpx

        created = httpx.post(
            f"{api.url}/api/demo/tasks",
            json={"title": "private"},
            headers={"Authorization": f"Bearer {minted}"},
            timeout=10,
        )
        assert created.status_code == 201
        assert _mode(data) == 0o700
        files = sorted(path.name for path in data.iterdir())
        assert {"secret", "todo.db", "todo.db-wal", "todo.db-shm"} <= set(files), files
        for path in data.iterdir():
            assert _mode(path) == 0o600, (path.name, oct(_mode(path)))


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path)
    data = tmp_path / "data"
    assert run_cli("migrate", env=env).returncode == 0
    data.chmod(0o755)
    (data / "todo.db").chmod(0o644)
    assert run_cli("migrate", env=env).returncode == 0
    assert _mode(data) == 0o700
    assert _mode(data / "todo.db") == 0o600


@pytest.mark.parametrize("weak", ["a" * 32, "ab" * 20, "short-but-random-Q9"])
def test_production_refuses_a_weak_secret(tmp_path: Path, weak: str) -> None:
    env = dict(service_env("", weak, tmp_path / "data"), ENVIRONMENT="production", DATABASE_URL="")
    out = run_cli("token", "demo", env=env)
    assert out.returncode != 0
    assert "BETTER_AUTH_SECRET" in out.stderr and "Traceback" not in out.stderr


def test_production_accepts_a_random_secret(tmp_path: Path) -> None:
    strong = "Xo3_9fJk2LqP0wZr7TnB5vYc8HdM1sGa4eUi6Q"
    env = dict(
        service_env("", strong, tmp_path / "data"), ENVIRONMENT="production", DATABASE_URL=""
    )
    out = run_cli("token", "demo", env=env)
    assert out.returncode == 0, out.stderr
    assert jwt.decode(out.stdout.strip(), strong, algorithms=["HS256"])["sub"] == "demo"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_installed_pyjwt_refuses_an_empty_key() -> None:
    # pyproject pins pyjwt>=2.13: 2.8-2.12 verify a token signed with an empty key.
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(b'{"sub":"x"}')
    signature = hmac.new(b"", signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + _b64(signature)
    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(forged, "", algorithms=["HS256"])
    floor = re.search(
        r'"pyjwt(?:\[\w+\])?>=(\d+)\.(\d+)', (PROJECT_ROOT / "pyproject.toml").read_text()
    )
    assert floor is not None and (int(floor[1]), int(floor[2])) >= (2, 13)
