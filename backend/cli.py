"""`todo-agent`: run the service, mint tokens, migrate.

todo-agent serve [--host] [--port] [--mcp-port]   migrate, then API + MCP server as two processes
todo-agent api [--host] [--port]                  the HTTP API only
todo-agent mcp [--host] [--port] | --stdio        the MCP tool server only
todo-agent token USER_ID [--ttl SECONDS]          print a JWT signed with the configured secret
todo-agent migrate                                apply database migrations
todo-agent eval [--model NAME] [--cases FILE] [--json OUT]   the evaluation set, real agent loop
todo-agent --version

A start-up failure (bad setting, database unreachable or not migrated, port taken) is one line on
stderr and exit code 1; LOG_LEVEL=DEBUG adds the traceback.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backend import __version__
from backend.config import ConfigError, Settings, get_settings

DEMO_USER = "demo"
DEMO_TOKEN_TTL = 7 * 24 * 3600
START_TIMEOUT_SECONDS = 60


class StartupError(RuntimeError):
    """The service cannot start; the message is one line that says what to do."""


def _check_port_free(host: str, port: int) -> None:
    """Fail before the server starts, with a plain message, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; another program "
                "(or another todo-agent) is using it, choose a free port with --port"
            ) from exc


def _check_schema(settings: Settings) -> None:
    """The database the server will open (its lifespan's, from the same settings) is migrated."""
    from backend.migrate import require_current_schema

    require_current_schema(settings.resolved_database_url)


def _migrate(_: argparse.Namespace) -> int:
    from backend.migrate import upgrade

    upgrade()
    print(f"database is up to date ({_safe_url()})")
    return 0


def _safe_url() -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)


def _token(args: argparse.Namespace) -> int:
    from backend.auth import mint_token

    print(mint_token(args.user_id, get_settings(), ttl_seconds=args.ttl))
    return 0


def _serve_metrics(settings: Settings, host: str, workers: int = 1) -> None:
    """Several workers count into one folder (prometheus-client's multiprocess mode); METRICS_PORT
    gets its own /metrics server in this process, which with workers is their supervisor."""
    if not settings.metrics_enabled:
        return
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before prometheus_client is imported here or in a worker: it reads this at import.
        folder = tempfile.mkdtemp(prefix="todo-agent-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the workers are gone by then
    if settings.metrics_port:
        from backend.observability.metrics import start_metrics_server

        start_metrics_server(host, settings.metrics_port)


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.chat.providers import check_model_settings
    from backend.logs import configure_logging
    from backend.serving import uvicorn_options

    settings = get_settings()
    settings.jwt_secret  # noqa: B018  (fail fast on a missing production secret)
    check_model_settings(settings)  # and on a model named with no way to reach it
    _check_port_free(args.host, args.port)
    _check_schema(settings)
    configure_logging(settings.log_level)
    _serve_metrics(settings, args.host, args.workers)
    uvicorn.run(
        "backend.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **uvicorn_options(settings),
    )
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from mcp_server.server import run_http, run_stdio

    settings = get_settings()
    settings.jwt_secret  # noqa: B018
    if not args.stdio:
        _check_port_free(args.host, args.port)
    _check_schema(settings)
    if args.stdio:
        return run_stdio()
    _serve_metrics(settings, args.host)
    return run_http(host=args.host, port=args.port)


def _serve(args: argparse.Namespace) -> int:
    """Migrate, then run the API and the MCP server as two child processes until Ctrl-C."""
    from backend.auth import mint_token
    from backend.chat.providers import check_model_settings
    from backend.migrate import upgrade

    settings = get_settings()
    settings.jwt_secret  # noqa: B018
    check_model_settings(settings)
    _check_port_free(args.host, args.port)
    _check_port_free(args.host, args.mcp_port)
    upgrade()
    mcp_url = f"http://{args.host}:{args.mcp_port}/mcp"
    env = dict(os.environ, MCP_SERVER_URL=os.environ.get("MCP_SERVER_URL") or mcp_url)
    # Two processes on one host: the MCP server's /metrics goes on the next port.
    mcp_env = (
        dict(env, METRICS_PORT=str(settings.metrics_port + 1)) if settings.metrics_port else env
    )
    me = [sys.executable, "-m", "backend.cli"]
    # Sessions of their own: Ctrl-C reaches this process only, which stops them in order.
    children = [
        subprocess.Popen(
            [*me, "mcp", "--host", args.host, "--port", str(args.mcp_port)],
            env=mcp_env,
            start_new_session=True,
        ),
        subprocess.Popen(
            [*me, "api", "--host", args.host, "--port", str(args.port)],
            env=env,
            start_new_session=True,
        ),
    ]
    try:
        _wait_until_answering(children, args)
    except BaseException:
        _stop_children(children, settings.shutdown_grace_seconds)
        raise
    token = mint_token(DEMO_USER, settings, ttl_seconds=DEMO_TOKEN_TTL)
    print(_banner(settings, f"http://{args.host}:{args.port}", mcp_url, token), flush=True)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    status = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                print(f"a child process exited with {child.returncode}; stopping", file=sys.stderr)
                status = child.returncode or 1
                stopping = True
        time.sleep(0.2)
    _stop_children(children, settings.shutdown_grace_seconds)
    return status


def _banner(settings: Settings, base: str, mcp_url: str, token: str) -> str:
    # Production serves no Swagger UI (backend.main), so the banner points only at what answers.
    docs = f"   (docs: {base}/docs)" if settings.environment != "production" else ""
    return (
        f"\n  todo-agent is running\n"
        f"  API         {base}{docs}\n"
        f"  MCP server  {mcp_url}\n"
        f"  database    {_safe_url()}\n"
        f"  model       {settings.model_name}\n\n"
        f"  Open the app signed in as '{DEMO_USER}' (the token stays in the URL fragment, "
        f"which browsers never send):\n  {base}/#token={token}\n\n"
        f"  Or call the API:\n  export TOKEN={token}\n"
        f'  curl -s {base}/api/{DEMO_USER}/chat -H "Authorization: Bearer $TOKEN" '
        f"-H 'Content-Type: application/json' -d '{{\"message\": \"add buy milk\"}}'\n"
    )


def _stop_children(children: list[subprocess.Popen[bytes]], grace_seconds: float) -> None:
    # The API first, the MCP server once it is gone: the API's running turns need their tools
    # until they finish (up to SHUTDOWN_GRACE_SECONDS, then a few seconds to record the rest).
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(grace_seconds + 10)
        except subprocess.TimeoutExpired:
            child.kill()


def _wait_until_answering(
    children: list[subprocess.Popen[bytes]], args: argparse.Namespace
) -> None:
    """Return once the MCP server and the API both answer /health; fail if a child exits."""
    import httpx2 as httpx  # (httpx itself is a dev dependency only)

    probe_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    if ":" in probe_host:
        probe_host = f"[{probe_host}]"
    urls = [f"http://{probe_host}:{port}/health" for port in (args.mcp_port, args.port)]
    names = ["the MCP server", "the API"]
    waiting = set(range(len(children)))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while waiting:
        for n in sorted(waiting):
            if children[n].poll() is not None:
                # The child printed its own one-line reason just before.
                raise StartupError(f"{names[n]} did not start (exit code {children[n].returncode})")
            try:
                if httpx.get(urls[n], timeout=1).status_code == 200:
                    waiting.discard(n)
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise StartupError(
                f"{' and '.join(names[n] for n in sorted(waiting))} did not answer within "
                f"{START_TIMEOUT_SECONDS} s"
            )
        if waiting:
            time.sleep(0.1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-agent", description="Todo AI chatbot backend")
    parser.add_argument("--version", action="version", version=f"todo-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then run the API and the MCP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--mcp-port", type=int, default=8001)
    serve.set_defaults(func=_serve)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1)
    api.set_defaults(func=_api)

    mcp = sub.add_parser("mcp", help="run the MCP tool server")
    mcp.add_argument("--host", default="127.0.0.1")
    mcp.add_argument("--port", type=int, default=8001)
    mcp.add_argument(
        "--stdio", action="store_true", help="serve over stdio (user from TODO_AGENT_TOKEN)"
    )
    mcp.set_defaults(func=_mcp)

    token = sub.add_parser("token", help="print a JWT for USER_ID")
    token.add_argument("user_id")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(func=_token)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=_migrate)

    evaluate = sub.add_parser(
        "eval", help="run the evaluation set through the agent, MCP server and a scratch database"
    )
    evaluate.add_argument("--model", help="the model to evaluate (default: MODEL, else offline)")
    evaluate.add_argument("--cases", type=Path, help="cases YAML (default: tests/eval/cases.yaml)")
    evaluate.add_argument("--json", type=Path, dest="json_out", help="write the report here")
    evaluate.set_defaults(func=_eval)
    return parser


def _eval(args: argparse.Namespace) -> int:
    from backend.evaluation import main as evaluate

    return evaluate(args.cases, args.model, args.json_out)


def _one_line(exc: BaseException) -> str:
    """What went wrong, in one line a person can act on; never a secret or a stack trace."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, (ConfigError, StartupError)):
        return str(exc)
    if isinstance(exc, ValidationError):
        # Name the variable and the rule, not the value (it may be a secret).
        problems = "; ".join(
            f"{str(error['loc'][0]).upper() if error['loc'] else 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        return f"invalid setting: {problems}"
    if isinstance(exc, OperationalError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return f"cannot reach the database at {_safe_url()}: {reason}; check DATABASE_URL"
    return f"unexpected error ({type(exc).__name__}: {exc}); LOG_LEVEL=DEBUG shows the traceback"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG":
            raise
        print(f"todo-agent {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
