"""Slow clients are timed out (issue 16, 7): headers or a body sent one byte at a time.

Both servers run with 1-second deadlines; the client drips one byte every 0.1 s for up to 8 s
(bounded), so on a server without deadlines it would still be sending when the test gives up.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.migrate import upgrade
from tests.support.processes import ServiceProcess, running, service_env
from tests.support.tokens import TEST_SECRET, bearer

DRIP_SECONDS = 0.1
GIVE_UP_SECONDS = 8.0


@pytest.fixture(scope="module", params=["api", "mcp"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    folder: Path = tmp_path_factory.mktemp(f"slow-{request.param}")
    upgrade(f"sqlite:///{folder / 'todo.db'}")
    env = service_env(
        f"sqlite:///{folder / 'todo.db'}",
        TEST_SECRET,
        folder / "data",
        HEADER_TIMEOUT_SECONDS="1",
        BODY_TIMEOUT_SECONDS="1",
    )
    with running(request.param, env, folder) as service:
        yield service


def _path(server: ServiceProcess) -> str:
    return "/mcp" if server.command == "mcp" else "/health"


def _drip(server: ServiceProcess, opening: bytes, drip: bytes) -> bytes:
    """Send `opening`, then `drip` byte by byte; return what the server answered (b"" if none)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=GIVE_UP_SECONDS) as sock:
        sock.sendall(opening)
        sock.settimeout(DRIP_SECONDS)
        deadline = time.monotonic() + GIVE_UP_SECONDS
        sent = 0
        while time.monotonic() < deadline:
            try:
                answer = sock.recv(4096)
                return answer  # an answer, or b"" when the server closed the connection
            except TimeoutError:
                pass
            try:
                sock.send(drip[sent % len(drip) : sent % len(drip) + 1])
            except OSError:
                return b"closed while sending"
            sent += 1
    pytest.fail("the server was still reading after the client dripped for 8 seconds")


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, so the next request starts on a clean slate."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def test_headers_sent_one_byte_at_a_time_are_timed_out(server: ServiceProcess) -> None:
    answer = _drip(
        server, f"GET {_path(server)} HTTP/1.1\r\nHost: x\r\n".encode(), b"X-Slow: a\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_connection_that_sends_nothing_is_closed(server: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=GIVE_UP_SECONDS) as sock:
        answer = sock.recv(4096)  # TimeoutError after 8 s if the server keeps it open
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_body_sent_one_byte_at_a_time_is_timed_out(server: ServiceProcess) -> None:
    # A route that reads its body (FastAPI reads it before checking anything else).
    path = "/mcp" if server.command == "mcp" else "/api/slow/tasks"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\n"
        f"Authorization: {bearer('slow')['Authorization']}\r\nContent-Length: 4000\r\n\r\n"
    )
    answer = _drip(server, head.encode(), b"a")
    assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer


def test_oversized_headers_are_refused(server: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=GIVE_UP_SECONDS) as sock:
        sock.sendall(f"GET {_path(server)} HTTP/1.1\r\nHost: x\r\n".encode())
        try:
            for _ in range(64):
                sock.sendall(b"X-Big: " + b"b" * 1024 + b"\r\n")
        except OSError:
            pass  # the server may close before everything is sent
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer


def test_a_kept_alive_connection_still_serves_a_prompt_second_request(
    server: ServiceProcess,
) -> None:
    request = f"GET {_path(server)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=GIVE_UP_SECONDS) as sock:
        for _ in range(2):
            sock.sendall(request)
            answer = _read_response(sock)
            assert answer.startswith(b"HTTP/1.1 "), answer
            assert not answer.startswith(b"HTTP/1.1 408"), answer
            time.sleep(1.5)  # idle past the header deadline, within the 5 s keep-alive
