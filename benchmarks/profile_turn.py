"""Profile the API's side of a chat turn in-process (offline model, one tool call).

    .venv/bin/python benchmarks/profile_turn.py [--turns 300] [--profile pyinstrument|cprofile|none]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--per-conversation 10]

Starts `todo-agent mcp` as a child process on a scratch PostgreSQL database, runs the API app in
this process through `httpx.ASGITransport` (its lifespan entered by hand), sends warm-up turns,
then `--turns` turns ("add ...", `--per-conversation` per conversation, ten by default; a
large value such as 1000 makes most turns replay a full history) and as many floor requests
(`POST /api/{user}/tasks`), and prints the CPU time of this process per turn and per floor
request (`time.process_time`, which counts the database worker threads too). With `--profile`
the turns alone are profiled and the profile printed (pyinstrument is not a dependency of the
project: `pip install pyinstrument` first).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvloop  # noqa: E402

from tests.databases import scratch_database  # noqa: E402
from tests.support.processes import running, service_env  # noqa: E402
from tests.support.tokens import TEST_SECRET, bearer  # noqa: E402

UNLIMITED = {"CHAT_RATE_LIMIT": "1000000", "API_RATE_LIMIT": "0"}  # as benchmarks/chat_load.py
DEFAULT_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


async def _turns(
    http: httpx.AsyncClient, user: str, count: int, label: str, per_conversation: int = 10
) -> None:
    conversation: int | None = None
    for index in range(count):
        if index % per_conversation == 0:
            conversation = None
        body: dict[str, Any] = {"message": f"add {label} task {index}"}
        if conversation is not None:
            body["conversation_id"] = conversation
        response = await http.post(f"/api/{user}/chat", json=body, headers=bearer(user))
        response.raise_for_status()
        conversation = response.json()["conversation_id"]


async def _floor(http: httpx.AsyncClient, user: str, count: int) -> None:
    for index in range(count):
        response = await http.post(
            f"/api/{user}/tasks", json={"title": f"floor {index}"}, headers=bearer(user)
        )
        response.raise_for_status()


async def _run(url: str, mcp_url: str, turns: int, profile: str, per_conversation: int) -> None:
    os.environ.update(
        DATABASE_URL=url,
        BETTER_AUTH_SECRET=TEST_SECRET,
        MCP_SERVER_URL=mcp_url,
        **UNLIMITED,
    )
    from backend.config import Settings
    from backend.main import create_app

    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            await _turns(http, "warm", 30, "warm-up")
            await _floor(http, "warm-floor", 30)
            started = time.process_time()
            await _floor(http, "floor", turns)
            floor_cpu = (time.process_time() - started) / turns
            profiler: Any = None
            if profile == "pyinstrument":
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="disabled", interval=0.0005)
                profiler.start()
            elif profile == "cprofile":
                import cProfile

                profiler = cProfile.Profile(time.thread_time)  # the event loop's thread
                profiler.enable()
            started, main_started = time.process_time(), time.thread_time()
            await _turns(http, "turns", turns, "measured", per_conversation)
            turn_cpu = (time.process_time() - started) / turns
            main_cpu = (time.thread_time() - main_started) / turns
            if profile == "pyinstrument":
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
            elif profile == "cprofile":
                import pstats

                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    print(
        f"API CPU per turn {turn_cpu * 1000:.2f} ms (event loop thread {main_cpu * 1000:.2f}),"
        f" per floor request {floor_cpu * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--profile", choices=["pyinstrument", "cprofile", "none"], default="none")
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--per-conversation", type=int, default=10, help="turns per conversation")
    args = parser.parse_args()
    from backend.migrate import upgrade

    with scratch_database(args.database_url) as url, tempfile.TemporaryDirectory() as folder:
        upgrade(url)
        env = service_env(url, TEST_SECRET, Path(folder) / "data", LOG_LEVEL="WARNING", **UNLIMITED)
        with running("mcp", env, Path(folder)) as mcp:
            uvloop.run(_run(url, mcp.url, args.turns, args.profile, args.per_conversation))


if __name__ == "__main__":
    main()
