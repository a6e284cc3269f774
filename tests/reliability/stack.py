"""Real `todo-agent api` and `mcp` processes for the reliability tests, and small HTTP helpers.

A `Stack` runs any number of API and MCP processes on one database; API number i talks to MCP
number i modulo the MCP count. Each process logs to its own file in the stack's folder (a
restart appends), so a test can read every line the processes wrote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.conftest import TEST_SECRET
from tests.servers import ServiceProcess, free_port, service_env

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def token(user: str, ttl: int = 3600, secret: str = TEST_SECRET, **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + ttl, **claims}, secret, "HS256")


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


class Stack:
    """API and MCP processes sharing one database; each can be stopped and started again."""

    def __init__(
        self, database_url: str, folder: Path, *, apis: int = 1, mcps: int = 1, **env: str
    ) -> None:
        self.database_url, self.folder, self.env = database_url, folder, env
        self.mcps = [
            ServiceProcess("mcp", free_port(), self._env(), folder / f"mcp-{n}.log")
            for n in range(mcps)
        ]
        self.apis = [
            ServiceProcess(
                "api",
                free_port(),
                self._env(MCP_SERVER_URL=self.mcps[n % mcps].url),
                folder / f"api-{n}.log",
            )
            for n in range(apis)
        ]

    def _env(self, **extra: str) -> dict[str, str]:
        return service_env(
            self.database_url, TEST_SECRET, self.folder / "data", **self.env, **extra
        )

    @property
    def api(self) -> ServiceProcess:
        return self.apis[0]

    @property
    def mcp(self) -> ServiceProcess:
        return self.mcps[0]

    def start(self) -> Stack:
        for service in [*self.mcps, *self.apis]:
            service.start()
        return self

    def stop(self) -> None:
        for service in [*self.apis, *self.mcps]:
            service.stop()

    def client(self, n: int = 0, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.apis[n].url, timeout=timeout)

    def async_client(self, n: int = 0, timeout: float = 30, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.apis[n].url, timeout=timeout, **options)

    def logs(self) -> str:
        return "\n".join(service.log() for service in [*self.apis, *self.mcps])


@contextmanager
def stack(database_url: str, folder: Path, **options: Any) -> Iterator[Stack]:
    folder.mkdir(parents=True, exist_ok=True)
    running = Stack(database_url, folder, **options)
    try:
        yield running.start()
    finally:
        running.stop()


def chat_body(message: str, conversation_id: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


def sse_events(text: str) -> list[Any]:
    """The `data:` payloads of a server-sent event stream, `[DONE]` kept as a string."""
    import json

    payloads = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return [payload if payload == "[DONE]" else json.loads(payload) for payload in payloads]


def mcp_call(
    service: ServiceProcess, name: str, arguments: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return httpx.post(service.url, json=body, headers={**MCP_HEADERS, **headers}, timeout=10)
