"""How the API and the MCP server are served by uvicorn: slow clients timed out, a bounded stop.

uvicorn has no timeout for reading a request: its keep-alive timer runs only between requests
and is cancelled by the first byte of the next one, so a client that sends its headers (or its
body) one byte a second holds a connection, and a task, forever. `h11_max_incomplete_event_size`
bounds the header size of the h11 parser only; the httptools parser (the one `uvicorn[standard]`
picks) has no bound. `GuardedHttpToolsProtocol` adds both:

- the request line and headers must arrive within `header_timeout` of the connection opening
  (or of the first byte of the next request on a kept-alive connection), and be at most
  `max_header_bytes` long (431 otherwise);
- the body must arrive within `body_timeout` of the end of the headers.

A client that misses a deadline gets `408 Request Timeout` and the connection is closed. These
are per-connection bounds, not a defence against many connections from many addresses: in
production put a reverse proxy (nginx, Caddy, a cloud load balancer) in front, which buffers
requests and limits connections per client (docs/security-and-reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.config import Settings, get_settings

log = logging.getLogger("backend.serving")

KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 32 * 1024


def _reply(status: str) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(status)}\r\nconnection: close\r\n\r\n{status}"
    ).encode()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines for the headers and the body of a request."""

    # Read from the settings (not passed in): uvicorn's worker processes import this class by
    # name, and every connection of a process shares the same cached settings.
    max_header_bytes: int = MAX_HEADER_BYTES

    _deadline: asyncio.TimerHandle | None = None
    _reading: str = "nothing"  # "nothing" (between requests), "headers" or "body"
    _header_bytes: int = 0
    _headers_too_large: bool = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        settings = get_settings()
        self.header_timeout = settings.header_timeout_seconds
        self.body_timeout = settings.body_timeout_seconds
        super().connection_made(transport)
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # The first byte of a request. On a new connection the clock already runs; on a
        # kept-alive one (or for a pipelined request) it starts now.
        if self._deadline is None:
            self._arm(self.header_timeout, "headers")
        self._reading, self._header_bytes = "headers", 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = "nothing"
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._headers_too_large:
            super().send_400_response(msg)
            return
        log.warning("request headers too large; connection closed")
        self.transport.write(_reply("431 Request Header Fields Too Large"))
        self.transport.close()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._headers_too_large = True
            # Raised inside a parser callback: httptools reports a parser error, which uvicorn
            # answers through `send_400_response` above.
            raise ValueError("request headers too large")

    def _arm(self, seconds: float, reading: str) -> None:
        self._disarm()
        self._reading = reading
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning("client too slow; connection closed", extra={"reading": self._reading})
        cycle = self.cycle
        if self._reading == "headers" or (cycle is not None and not cycle.response_started):
            self.transport.write(_reply("408 Request Timeout"))
        self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` shared by the API and the MCP server."""
    return {
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace_seconds),
        "log_config": None,
        "access_log": False,
    }
