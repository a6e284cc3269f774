"""Counting TCP proxies for the benchmark's accounting scenario: what a turn sends where.

`PostgresCounter` sits between a service and PostgreSQL and counts, from the wire protocol, the
connections opened and every statement a client sends (a simple-protocol `Query` or an extended
`Execute` message), by kind: pool pings (`SELECT 1`), BEGIN / COMMIT / ROLLBACK, the rest. It
needs `sslmode=disable` on the client so that the protocol is readable.

`HttpCounter` sits between the API and the MCP server and counts HTTP requests by JSON-RPC
method (`initialize`, `tools/list`, `tools/call`, ...) and HTTP method.

Both run on an event loop in a thread of their own, so the benchmark's client loop does not
carry them; they add a hop, so the accounting scenario's latencies are not comparable with the
other scenarios' and are not reported.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import threading
from collections import Counter
from collections.abc import Awaitable, Callable

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


def statement_kind(sql: str) -> str:
    text = sql.strip().rstrip(";").strip().upper()
    if text == "SELECT 1":
        return "ping (SELECT 1)"
    first = text.split(None, 1)[0] if text else ""
    if first in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
        return first
    return first or "empty"


class _ProxyThread:
    """An event loop in a daemon thread, serving one listening socket."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._open = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def count(self, key: str, value: int = 1) -> None:
        with self._lock:
            self.counts[key] += value

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()
        # Stopped: end the connections still open (pooled ones), quietly.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def start(self) -> _ProxyThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        inspect: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if inspect is not None:
                    await inspect(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _bridge(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        target: tuple[str, int],
        inspect: Callable[[bytes], Awaitable[None]],
    ) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        with self._lock:
            self._open += 1
            self.counts["peak open connections"] = max(
                self.counts["peak open connections"], self._open
            )
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, inspect),
                self._pipe(server_reader, client_writer),
            )
        finally:
            with self._lock:
                self._open -= 1

    def reset_peak(self) -> None:
        with self._lock:
            self.counts["peak open connections"] = self._open


class PostgresCounter(_ProxyThread):
    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.target = (host, port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count("connections opened")
        buffer = bytearray()
        started = False  # the startup message (untyped) has gone through

        async def inspect(data: bytes) -> None:
            nonlocal started
            buffer.extend(data)
            while True:
                if not started:
                    if len(buffer) < 8:
                        return
                    length, code = struct.unpack("!II", buffer[:8])
                    if len(buffer) < length:
                        return
                    del buffer[:length]
                    if code not in (SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST):
                        started = True
                    continue
                if len(buffer) < 5:
                    return
                kind = chr(buffer[0])
                (length,) = struct.unpack("!I", buffer[1:5])
                if len(buffer) < 1 + length:
                    return
                body = bytes(buffer[5 : 1 + length])
                del buffer[: 1 + length]
                if kind == "Q":
                    self.count("statements")
                    self.count("statement " + statement_kind(body.split(b"\0", 1)[0].decode()))
                elif kind == "E":
                    self.count("statements")
                    self.count("statement (extended protocol)")

        await self._bridge(reader, writer, self.target, inspect)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class HttpCounter(_ProxyThread):
    """HTTP/1.1 requests with Content-Length bodies (what httpx sends), by JSON-RPC method."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.target = (host, port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count("connections opened")
        buffer = bytearray()

        async def inspect(data: bytes) -> None:
            buffer.extend(data)
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = bytes(buffer[:end])
                match = _CONTENT_LENGTH.search(head)
                size = int(match.group(1)) if match else 0
                if len(buffer) < end + 4 + size:
                    return
                body = bytes(buffer[end + 4 : end + 4 + size])
                del buffer[: end + 4 + size]
                self.count("requests")
                method = head.split(b" ", 1)[0].decode()
                self.count(f"request {method} {_rpc_method(body)}".rstrip())

        await self._bridge(reader, writer, self.target, inspect)


def _rpc_method(body: bytes) -> str:
    if not body:
        return ""
    try:
        message = json.loads(body)
    except ValueError:
        return "(not JSON)"
    if isinstance(message, list):
        return "batch"
    return str(message.get("method", "(response)")) if isinstance(message, dict) else ""
