"""A loopback HTTPS proxy (HTTP CONNECT) that sends every tunnel to one local port.

With `HTTPS_PROXY` pointing here, a client that talks to `https://api.openai.com` reaches a
fake server on 127.0.0.1 instead, still over TLS (the test trusts the fake's certificate through
`SSL_CERT_FILE`). Nothing leaves the machine: the requested host is never resolved.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.processes import free_port


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _tunnel(client: socket.socket, target_port: int, seen: list[str]) -> None:
    with client:
        request = b""
        while b"\r\n\r\n" not in request:
            data = client.recv(4096)
            if not data:
                return
            request += data
        line = request.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        seen.append(target)
        with socket.create_connection(("127.0.0.1", target_port)) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(10)


@contextmanager
def connect_proxy(target_port: int) -> Iterator[tuple[str, list[str]]]:
    """(proxy URL, the CONNECT targets asked for) while the proxy runs."""
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    seen: list[str] = []
    stopped = threading.Event()

    def serve() -> None:
        while not stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_tunnel, args=(client, target_port, seen), daemon=True).start()

    thread = threading.Thread(target=serve, name="connect-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        stopped.set()
        listener.close()
        thread.join(5)
