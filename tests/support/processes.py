"""Start the real processes (`todo-agent api` / `mcp`) for end-to-end tests, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one handed out before in this test run.

    The port is free when chosen and the service binds it later, so the kernel may offer it
    again in between: two services of a stack given one port, the second dying at start while
    its readiness check talks to the first (every service answers /health).
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def closed_mcp_url() -> str:
    """An MCP address nothing listens on: never the default port, where a dev server may run."""
    return f"http://127.0.0.1:{free_port()}/mcp"


def service_env(database_url: str, secret: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process; an API without `MCP_SERVER_URL` finds no MCP server."""
    env = dict(os.environ)
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "MODEL",
        "REDIS_URL",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "JWT_JWKS_URL",
    ):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        BETTER_AUTH_SECRET=secret,
        TODO_AGENT_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
        MCP_SERVER_URL=closed_mcp_url(),
    )
    env.update(extra)
    return env


class ServiceProcess:
    """One `todo-agent <command> [options]` child process; restartable, logs kept in a file."""

    def __init__(
        self,
        command: str,
        port: int,
        env: dict[str, str],
        log_path: Path,
        options: Sequence[str] = (),
    ) -> None:
        self.command, self.port, self.env, self.log_path = command, port, env, log_path
        self.options = list(options)  # e.g. ["--workers", "2"]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        suffix = "/mcp" if self.command == "mcp" else ""
        return f"http://127.0.0.1:{self.port}{suffix}"

    def start(self, timeout: float = 60) -> ServiceProcess:
        self._wait_for_free_port()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend.cli",
                self.command,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.options,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log()[-2000:]}")
            if port_open(self.port) and (self.command != "api" or self._healthy()):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command} did not start: {self.log()[-2000:]}")

    def _wait_for_free_port(self, timeout: float = 5) -> None:
        """A port that answers before we start is someone else's (or a killed predecessor's
        still closing): its answers would pass for ours."""
        deadline = time.monotonic() + timeout
        while port_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.command}: port {self.port} is already in use")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def running(
    command: str,
    env: dict[str, str],
    log_dir: Path,
    port: int | None = None,
    options: Sequence[str] = (),
) -> Iterator[ServiceProcess]:
    log_path = log_dir / f"{command}-{time.time_ns()}.log"
    service = ServiceProcess(command, port or free_port(), env, log_path, options)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def mcp_on_sqlite(directory: Path) -> Iterator[ServiceProcess]:
    """One `todo-agent mcp` on a migrated SQLite file in `directory`, signing with TEST_SECRET."""
    from backend.migrate import upgrade
    from tests.support.tokens import TEST_SECRET

    url = f"sqlite:///{directory / 'todo.db'}"
    upgrade(url)
    with running("mcp", service_env(url, TEST_SECRET, directory / "data"), directory) as service:
        yield service


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`todo-agent ARGS` as a child process of this interpreter, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
