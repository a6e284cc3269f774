"""Real `todo-agent api` and `mcp` processes on one database, for end-to-end and reliability tests.

A `Stack` runs any number of API and MCP processes on one database; API number i talks to MCP
number i modulo the MCP count. Each process logs to its own file in the stack's folder (a
restart appends), so a test can read every line the processes wrote. Each process keeps its
free port across a stop and a start.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.tokens import TEST_SECRET


class Stack:
    """API and MCP processes sharing one database; each can be stopped and started again."""

    def __init__(
        self,
        database_url: str,
        folder: Path,
        *,
        apis: int = 1,
        mcps: int = 1,
        secret: str = TEST_SECRET,
        api_options: Sequence[str] = (),
        **env: str,
    ) -> None:
        self.database_url, self.folder, self.env = database_url, folder, env
        self.secret = secret
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
                api_options,
            )
            for n in range(apis)
        ]

    def _env(self, **extra: str) -> dict[str, str]:
        return service_env(
            self.database_url, self.secret, self.folder / "data", **self.env, **extra
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
