"""`--metrics on|off` and `--tracing on|off` for chat_load.py: the services' environment.

Tracing on sends every span over OTLP/HTTP to a sink in the benchmark's own process (it reads
and discards each export), so the services pay the whole cost of tracing, export included,
while the sink's CPU counts as the client's.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Sink(BaseHTTPRequestHandler):
    exports = 0  # OTLP requests received: proof that the services did export

    def do_POST(self) -> None:
        _Sink.exports += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", choices=["on", "off"], default="on", help="METRICS_ENABLED")
    parser.add_argument(
        "--tracing", choices=["on", "off"], default="off", help="OpenTelemetry traces over OTLP"
    )


@contextlib.contextmanager
def service_env(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """The variables for the services; with tracing on, an OTLP sink runs meanwhile."""
    env = {"METRICS_ENABLED": "true" if args.metrics == "on" else "false"}
    if args.tracing == "off":
        yield env
        return
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield env | {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}",
        }
    finally:
        print(f"OTLP sink: {_Sink.exports} span exports received", file=sys.stderr)
        sink.shutdown()
        sink.server_close()
