"""`todo-agent eval`: the evaluation set through the real agent loop, MCP server and database.

An operator choosing a model (gpt-4.1-mini, a local Ollama model, the offline one) runs the same
cases against each before deploying:

    todo-agent eval                                   # the configured model (offline by default)
    todo-agent eval --model gpt-4.1-mini              # OPENAI_API_KEY from the environment
    OPENAI_BASE_URL=http://127.0.0.1:11434/v1 todo-agent eval --model llama3.1
    todo-agent eval --cases my-cases.yaml --json report.json

Everything runs on this machine in a scratch folder: a fresh SQLite database, a `todo-agent mcp`
process on a free loopback port, and the chat route of the API in-process (the same turn,
history replay and tools as in production). Each case gets its own user, so cases never see
each other's tasks. Only the model calls leave the machine, to the configured provider.

Cases use the format of `tests/eval/cases.yaml` (documented at its top): start tasks, messages,
then the expected tasks, words the last reply must (not) mention, and the tools it may use.
Printed: accuracy per category, tool calls, estimated tokens sent per turn (bytes / 3, the
estimate `CONTEXT_TOKENS` uses) and the provider's own count when it reports usage, latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx2
import yaml  # type: ignore[import-untyped]
from agents import Model

from backend.chat.context_budget import estimated_tokens

DEFAULT_CASES = Path(__file__).resolve().parent.parent / "tests" / "eval" / "cases.yaml"


# --- cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedTask:
    title: str
    completed: bool = False
    description: str | None = None  # checked only when the case gives one


def _expected(entry: Any) -> ExpectedTask:
    if isinstance(entry, str):
        if entry.startswith("[x] "):
            return ExpectedTask(entry[4:], True)
        return ExpectedTask(entry)
    return ExpectedTask(
        entry["title"], bool(entry.get("completed", False)), entry.get("description")
    )


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    messages: list[str]
    start: list[ExpectedTask] = field(default_factory=list)
    tasks: list[ExpectedTask] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    calls: list[str] | None = None  # tools the last message may use (None: not checked)
    xfail: str | None = None

    def seed(self) -> list[dict[str, Any]]:
        return [
            {"title": t.title, "completed": t.completed, "description": t.description or ""}
            for t in self.start
        ]


def load_cases(path: Path = DEFAULT_CASES) -> list[Case]:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of cases")
    cases = []
    for entry in raw:
        cases.append(
            Case(
                id=entry["id"],
                category=entry["category"],
                messages=list(entry["messages"]),
                start=[_expected(item) for item in entry.get("start", [])],
                tasks=[_expected(item) for item in entry.get("tasks", [])],
                mentions=list(entry.get("mentions", [])),
                absent=list(entry.get("absent", [])),
                calls=entry.get("calls"),
                xfail=entry.get("xfail"),
            )
        )
    ids = [case.id for case in cases]
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    return cases


def _with_real_ids(word: str, ids: list[int] | None) -> str:
    """ "#2" in a case means the case's second task (seeded ones first, then those it created)."""
    if ids is None:
        return word
    return re.sub(
        r"#(\d+)",
        lambda m: f"#{ids[int(m.group(1)) - 1]}" if int(m.group(1)) <= len(ids) else m.group(0),
        word,
    )


def judge(
    case: Case,
    final_tasks: list[dict[str, Any]],
    reply: str,
    last_calls: list[str],
    ids: list[int] | None = None,
) -> list[str]:
    """What is wrong with a run of `case` (empty when it passed). `ids`: the real ids of the
    case's tasks in order, when the store numbers them differently from 1, 2, 3..."""
    problems = []
    got = Counter((t["title"], bool(t["completed"])) for t in final_tasks)
    want = Counter((t.title, t.completed) for t in case.tasks)
    if got != want:
        problems.append(f"tasks: expected {sorted(want.elements())}, got {sorted(got.elements())}")
    for expected in case.tasks:
        if expected.description is None:
            continue
        matching = [t for t in final_tasks if t["title"] == expected.title]
        if not any((t.get("description") or "") == expected.description for t in matching):
            found = [t.get("description") for t in matching]
            problems.append(
                f"description of {expected.title!r}: expected {expected.description!r}, got {found}"
            )
    lowered = reply.lower()
    for word in case.mentions:
        word = _with_real_ids(word, ids)
        if word.lower() not in lowered:
            problems.append(f"reply should mention {word!r}")
    for word in case.absent:
        word = _with_real_ids(word, ids)
        if word.lower() in lowered:
            problems.append(f"reply should not mention {word!r}")
    if case.calls is not None:
        unexpected = [name for name in last_calls if name not in case.calls]
        if unexpected:
            problems.append(f"unexpected tool calls {unexpected} (allowed: {case.calls})")
    if problems:
        problems.append(f"reply was: {reply!r}")
    return problems


# --- measuring the model -----------------------------------------------------------------------


def _tools_size(tools: Any) -> Any:
    return [
        {"name": getattr(t, "name", ""), "schema": getattr(t, "params_json_schema", None)}
        for t in tools or []
    ]


@dataclass
class ModelMeter:
    """Model requests of the current turn: estimated tokens sent, provider-counted tokens."""

    requests: list[int] = field(default_factory=list)
    provider_tokens: int = 0

    def sent(self, system: str | None, items: Any, tools: Any) -> None:
        self.requests.append(estimated_tokens([system, items, _tools_size(tools)]))

    def usage(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        self.provider_tokens += int(getattr(usage, "input_tokens", 0) or 0)


class MeasuredModel(Model):
    """Any model, with what each request sends counted (the offline model included)."""

    def __init__(self, inner: Model, meter: ModelMeter) -> None:
        self.inner, self.meter = inner, meter

    def _count(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # (system_instructions, input, model_settings, tools, ...) by position or by name
        names = ("system_instructions", "input", "model_settings", "tools")
        given = dict(zip(names, args, strict=False)) | kwargs
        self.meter.sent(given.get("system_instructions"), given.get("input"), given.get("tools"))

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        self._count(args, kwargs)
        response = await self.inner.get_response(*args, **kwargs)
        self.meter.usage(response)
        return response

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self._count(args, kwargs)
        async for event in self.inner.stream_response(*args, **kwargs):
            if getattr(event, "type", "") == "response.completed":
                self.meter.usage(getattr(event, "response", None))
            yield event


# --- running -----------------------------------------------------------------------------------


@dataclass
class CaseResult:
    id: str
    category: str
    passed: bool
    known_limit: str | None
    problems: list[str]
    turns: int
    tool_calls: int
    tokens_per_turn: list[int]  # estimated tokens sent to the model, summed over the turn
    provider_tokens: int
    latency_seconds: list[float]
    reply: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_service(model: str | None) -> Iterator[tuple[Path, str]]:
    """A fresh data folder and database, and a `todo-agent mcp` on a free port; env set."""
    with tempfile.TemporaryDirectory(prefix="todo-agent-eval-") as folder:
        data = Path(folder)
        port = _free_port()
        overrides = {
            "TODO_AGENT_DATA_DIR": str(data),
            "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),
            "MCP_SERVER_URL": f"http://127.0.0.1:{port}/mcp",
            "ENVIRONMENT": "development",
            "CHAT_RATE_LIMIT": "0",
        }
        saved = {name: os.environ.get(name) for name in [*overrides, "DATABASE_URL", "MODEL"]}
        os.environ.update(overrides)
        os.environ.pop("DATABASE_URL", None)  # never the operator's real database
        if model:
            os.environ["MODEL"] = model
        from backend.config import get_settings

        get_settings.cache_clear()
        log = (data / "mcp.log").open("w")
        mcp = None
        try:
            from backend.migrate import upgrade

            upgrade()
            mcp = subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "mcp", "--port", str(port)],
                env=dict(os.environ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            _wait_for_port(port, mcp)
            yield data, f"http://127.0.0.1:{port}/mcp"
        finally:
            if mcp is not None:
                mcp.terminate()
                try:
                    mcp.wait(10)
                except subprocess.TimeoutExpired:
                    mcp.kill()
            log.close()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            get_settings.cache_clear()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the MCP server did not start")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the MCP server did not start in 30 s")


def _empty_database() -> None:
    """Every case starts from an empty scratch database: its tasks are #1, #2... as it says.

    The database in use is the in-process API's (its lifespan's), as for `_seed`.
    """
    from sqlalchemy import inspect as inspect_database
    from sqlmodel import SQLModel

    from backend.db import get_engine

    engine = get_engine()
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
        if "sqlite_sequence" in inspect_database(connection).get_table_names():
            connection.exec_driver_sql("DELETE FROM sqlite_sequence")


def _seed(user_id: str, case: Case) -> list[int]:
    from backend import tasks
    from backend.db import session_scope
    from backend.models import TaskCreate

    _empty_database()
    ids = []
    with session_scope() as session:
        for expected in case.start:
            task = tasks.create_task(
                session=session,
                user_id=user_id,
                task_in=TaskCreate(title=expected.title, description=expected.description or ""),
            )
            if expected.completed:
                tasks.set_completed(
                    session=session, user_id=user_id, task_id=task.id or 0, completed=True
                )
            ids.append(task.id or 0)
    return ids


async def run_case(
    client: httpx2.AsyncClient, case: Case, index: int, meter: ModelMeter
) -> CaseResult:
    from backend.auth import mint_token
    from backend.config import get_settings

    user = f"eval-{index}"
    seeded = await asyncio.to_thread(_seed, user, case)
    headers = {"Authorization": f"Bearer {mint_token(user, get_settings())}"}
    conversation_id = None
    reply, last_calls, tool_calls = "", [], 0
    tokens, latency, provider_tokens = [], [], 0
    problems: list[str] = []
    for message in case.messages:
        meter.requests.clear()
        meter.provider_tokens = 0
        started = time.perf_counter()
        response = await client.post(
            f"/api/{user}/chat",
            json={"message": message, "conversation_id": conversation_id},
            headers=headers,
        )
        latency.append(time.perf_counter() - started)
        tokens.append(sum(meter.requests))
        provider_tokens += meter.provider_tokens
        if response.status_code != 200:
            problems.append(f"HTTP {response.status_code}: {response.json().get('detail')}")
            break
        body = response.json()
        conversation_id = body["conversation_id"]
        reply = body["response"]
        last_calls = [call["tool"] for call in body["tool_calls"]]
        tool_calls += len(last_calls)
    final = (await client.get(f"/api/{user}/tasks", headers=headers)).json()
    created = [task["id"] for task in final if task["id"] not in seeded]
    if not problems:
        problems = judge(case, final, reply, last_calls, [*seeded, *sorted(created)])
    return CaseResult(
        id=case.id,
        category=case.category,
        passed=not problems,
        known_limit=case.xfail,
        problems=problems,
        turns=len(latency),
        tool_calls=tool_calls,
        tokens_per_turn=tokens,
        provider_tokens=provider_tokens,
        latency_seconds=[round(seconds, 4) for seconds in latency],
        reply=reply,
    )


def _progress(out: IO[str], done: int, total: int, passed: int, label: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    out.write(f"\r[{bar}] {done}/{total}  passed {passed}  {label[:30]:<30}")
    out.flush()


def evaluate(
    cases: list[Case], model: str | None, progress: IO[str] | None = None
) -> dict[str, Any]:
    """Run every case; the report (also what `--json` writes)."""
    return asyncio.run(_evaluate(cases, model, progress))


async def _evaluate(
    cases: list[Case], model: str | None, progress: IO[str] | None
) -> dict[str, Any]:
    from backend.config import get_settings
    from backend.deps import get_chat_model
    from backend.main import create_app, lifespan

    results: list[CaseResult] = []
    with scratch_service(model):
        settings = get_settings()
        meter = ModelMeter()
        app = create_app(settings)
        # The API in-process, its lifespan included, spoken to over ASGI: no port, same code.
        async with (
            lifespan(app),
            httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app), base_url="http://eval", timeout=None
            ) as client,
        ):
            provider = app.state.model_provider
            app.dependency_overrides[get_chat_model] = lambda: MeasuredModel(
                provider.model(), meter
            )
            for index, case in enumerate(cases):
                if progress is not None:
                    _progress(progress, index, len(cases), sum(r.passed for r in results), case.id)
                results.append(await run_case(client, case, index, meter))
        if progress is not None:
            _progress(progress, len(cases), len(cases), sum(r.passed for r in results), "done")
            progress.write("\n")
        model_name = settings.model_name
    return report(model_name, results)


def report(model: str, results: list[CaseResult]) -> dict[str, Any]:
    by_category: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        by_category[result.category].append(result)
    turn_tokens = [t for r in results for t in r.tokens_per_turn]
    latencies = sorted(s for r in results for s in r.latency_seconds)

    def summary(group: list[CaseResult]) -> dict[str, Any]:
        passed = sum(r.passed for r in group)
        return {
            "cases": len(group),
            "passed": passed,
            "accuracy": round(passed / len(group), 4) if group else 0.0,
            "tool_calls": sum(r.tool_calls for r in group),
        }

    return {
        "model": model,
        "categories": {name: summary(group) for name, group in by_category.items()},
        "total": {
            **summary(results),
            "turns": len(turn_tokens),
            "tokens_per_turn_mean": round(statistics.fmean(turn_tokens)) if turn_tokens else 0,
            "tokens_per_turn_max": max(turn_tokens, default=0),
            "provider_input_tokens": sum(r.provider_tokens for r in results),
            "latency_p50_seconds": _quantile(latencies, 0.5),
            "latency_p95_seconds": _quantile(latencies, 0.95),
        },
        "cases": [asdict(result) for result in results],
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, int(q * len(values)))], 4)


def format_report(data: dict[str, Any]) -> str:
    lines = [
        f"model: {data['model']}",
        f"{'category':<18} {'passed':>7} {'cases':>6} {'accuracy':>9} {'tool calls':>11}",
    ]
    for name, row in [*data["categories"].items(), ("TOTAL", data["total"])]:
        lines.append(
            f"{name:<18} {row['passed']:>7} {row['cases']:>6} {100 * row['accuracy']:>8.1f}% "
            f"{row['tool_calls']:>11}"
        )
    total = data["total"]
    lines.append(
        f"turns {total['turns']}; tokens sent per turn (estimated): mean "
        f"{total['tokens_per_turn_mean']}, max {total['tokens_per_turn_max']}; provider-counted "
        f"input tokens {total['provider_input_tokens']}; latency p50 "
        f"{1000 * total['latency_p50_seconds']:.0f} ms, "
        f"p95 {1000 * total['latency_p95_seconds']:.0f} ms"
    )
    failed = [c for c in data["cases"] if not c["passed"]]
    for case in failed:
        label = f" (known limit: {case['known_limit']})" if case["known_limit"] else ""
        lines.append(f"FAIL {case['id']}{label}: {'; '.join(case['problems'])}")
    return "\n".join(lines)


def main(cases_file: Path | None, model: str | None, json_out: Path | None) -> int:
    path = cases_file or DEFAULT_CASES
    if not path.exists():
        print(f"no cases file at {path}; pass --cases FILE", file=sys.stderr)
        return 2
    data = evaluate(load_cases(path), model, progress=sys.stderr)
    print(format_report(data))
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        print(f"report written to {json_out}")
    return 0
