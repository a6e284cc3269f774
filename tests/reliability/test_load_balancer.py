"""Replicas behind a real load balancer: HAProxy (Debian's package) in front of two API and two
MCP processes on PostgreSQL and Redis, all on loopback, under a bounded load of chat sessions
and REST calls.

- Rolling restart: each process in turn is drained at the balancer (no new requests, as
  Kubernetes takes a pod out of its Service before the preStop pause and SIGTERM), gets
  SIGTERM (it finishes what it is serving), starts again and is waited for until the balancer
  sees it ready, while the load runs. Nothing may fail and nothing may be lost.
- Crash: one API and one MCP process get SIGKILL mid-load. Only the requests they were serving
  may fail, each with a clean 5xx (never a hang, never a 2xx without its effect); the client
  retries a failed chat turn with the same Idempotency-Key, and every turn ends with its message
  stored and its task present once. A turn killed after its tool started answers every retry
  with its stored "interrupted" 503, marked `Idempotent-Replayed: true`: the client then does
  what the reply asks a person to do, checks the task list, and sends the message again (with a
  new key) only if the task is not there.

The balancer retries only what is safe: a connection that could not be made (`retry-on
conn-failure`, `option redispatch`); it never resends a request a server may have started.
The counts go to the reliability figures printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability import figures
from tests.support.processes import ServiceProcess, free_port
from tests.support.stack import Stack
from tests.support.tokens import bearer

HAPROXY = shutil.which("haproxy")
REDIS_URL = "redis://127.0.0.1:6379/12"
SESSIONS = 30
MIN_TURNS, MAX_TURNS = 10, 40  # per session: at least 10, and more while the chaos lasts
PAUSE_SECONDS = 1.5  # between one session's turns (bounded load: about 20 turns/s at most)
RETRY_ATTEMPTS = 12
CHAOS_TIMEOUT_SECONDS = 180


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


pytestmark = [
    pytest.mark.skipif(
        HAPROXY is None,
        reason="needs HAProxy: `apt-get install haproxy` (Debian's package; .ci/run installs it)",
    ),
    pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (REDIS_URL)"),
]

HAPROXY_CONFIG = """
global
    maxconn 4096
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout queue 10s
    # A new server connection per request (the client side stays keep-alive): a request never
    # goes out on an idle connection that a stopping server is closing.
    option http-server-close
    http-reuse never
    # Only a connection that could not be made is retried, on the other server.
    retries 3
    retry-on conn-failure
    option redispatch 1
    # /ready is slower than /health under load (it asks the database and the MCP server).
    timeout check 3s
    default-server inter 500ms fall 2 rise 2

frontend api
    bind 127.0.0.1:{api_port}
    default_backend apis

frontend mcp
    bind 127.0.0.1:{mcp_port}
    default_backend mcps

backend apis
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
{api_servers}

backend mcps
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
{mcp_servers}
"""


class Balancer:
    """One HAProxy process; its admin socket tells which servers it considers up."""

    def __init__(self, folder: Path, apis: list[ServiceProcess], mcps: list[ServiceProcess]):
        self.folder = folder
        self.api_port, self.mcp_port = free_port(), free_port()
        self.socket = folder / "haproxy.sock"
        self.config = folder / "haproxy.cfg"

        def servers(prefix: str, services: list[ServiceProcess]) -> str:
            return "\n".join(
                f"    server {prefix}{n} 127.0.0.1:{service.port} check"
                for n, service in enumerate(services)
            )

        self.config.write_text(
            HAPROXY_CONFIG.format(
                socket=self.socket,
                api_port=self.api_port,
                mcp_port=self.mcp_port,
                api_servers=servers("api", apis),
                mcp_servers=servers("mcp", mcps),
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"

    def start(self) -> None:
        assert HAPROXY is not None
        checked = subprocess.run(
            [HAPROXY, "-c", "-f", str(self.config)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        log = open(self.folder / "haproxy.log", "ab")
        self.process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        _wait(lambda: self.socket.exists(), "haproxy's admin socket")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(5)
            admin.connect(str(self.socket))
            admin.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := admin.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def status(self) -> dict[str, str]:
        """{"apis/api0": "UP", ...} from `show stat` (CSV: pxname, svname, ..., status)."""
        rows = self.command("show stat").splitlines()
        header = rows[0].lstrip("# ").split(",")
        found = {}
        for row in rows[1:]:
            cells = dict(zip(header, row.split(","), strict=False))
            if cells.get("svname") not in (None, "FRONTEND", "BACKEND"):
                found[f"{cells['pxname']}/{cells['svname']}"] = cells["status"]
        return found

    def wait_until(self, server: str, state: str) -> None:
        _wait(lambda: self.status().get(server) == state, f"{server} {state}")

    def sessions(self, server: str) -> int:
        rows = self.command("show stat").splitlines()
        header = rows[0].lstrip("# ").split(",")
        for row in rows[1:]:
            cells = dict(zip(header, row.split(","), strict=False))
            if f"{cells.get('pxname')}/{cells.get('svname')}" == server:
                return int(cells["scur"] or 0)
        raise KeyError(server)

    def drain(self, server: str) -> None:
        """No new requests to `server`; what it is serving goes on (Kubernetes: the pod leaves
        the Service's endpoints, and the preStop pause lets the proxies notice)."""
        self.command(f"set server {server} state drain")
        self.wait_until(server, "DRAIN")
        _wait(lambda: self.sessions(server) == 0, f"{server} idle", timeout=30)

    def enable(self, server: str) -> None:
        self.command(f"set server {server} state ready")
        self.wait_until(server, "UP")


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Tally:
    """What the clients saw."""

    requests: Counter[str] = field(default_factory=Counter)
    first_failures: Counter[str] = field(default_factory=Counter)  # by status or error name
    turns_ok: int = 0
    turns_failed: int = 0  # a turn no retry could complete
    interrupted: int = 0  # turns whose key replayed the "interrupted" answer of a killed turn
    resent: Counter[str] = field(default_factory=Counter)  # messages sent again with a new key
    retries: int = 0
    tool_failures: int = 0  # a 200 whose reply says a tool could not run (its MCP server died)
    rest_created: list[str] = field(default_factory=list)
    rest_unknown: list[str] = field(default_factory=list)  # a create whose answer was lost
    rest_failed: int = 0
    rest_users: list[str] = field(default_factory=list)
    sent: dict[str, list[str]] = field(default_factory=dict)  # user -> messages that succeeded
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # message -> its 200 answer
    lost: list[str] = field(default_factory=list)  # answers whose task is not in the database
    conversations: dict[str, int] = field(default_factory=dict)
    bad_answers: list[str] = field(default_factory=list)  # not a clean 5xx, nor a success


@dataclass
class Load:
    client: httpx.AsyncClient
    tally: Tally
    chaos_done: asyncio.Event
    run: str

    async def session(self, n: int) -> None:
        user = f"lb-{self.run}-{n}"
        headers = bearer(user)
        conversation_id: int | None = None
        self.tally.sent[user] = []
        turn = 0
        while turn < MAX_TURNS and (turn < MIN_TURNS or not self.chaos_done.is_set()):
            message = f"add errand {self.run} {n} {turn}"
            body: dict[str, Any] = {"message": message}
            if conversation_id is not None:
                body["conversation_id"] = conversation_id
            answer = await self._chat(user, headers, body)
            if answer is not None:
                conversation_id = answer["conversation_id"]
                self.tally.sent[user].append(message)
                self.tally.answers[message] = answer
                self.tally.conversations[user] = conversation_id
            turn += 1
            await asyncio.sleep(PAUSE_SECONDS)

    async def _chat(
        self, user: str, headers: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any] | None:
        keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        delay = 0.2
        for attempt in range(RETRY_ATTEMPTS):
            self.tally.requests["chat"] += 1
            outcome = await self._post(f"/api/{user}/chat", body, keyed)
            if isinstance(outcome, httpx.Response) and outcome.status_code == 200:
                answer: dict[str, Any] = outcome.json()
                if any("error" in (call.get("result") or {}) for call in answer["tool_calls"]):
                    # The tool call died with its MCP server: the reply tells the user the change
                    # may not have been made. A person looks at the list and, if the task is not
                    # there, sends the same message again as a new request (the old key would
                    # replay this answer); the conversation then holds the message twice.
                    self.tally.tool_failures += 1
                    if await self._after_interruption(user, headers, body) is not None:
                        self.tally.turns_ok += 1
                        return answer
                    self.tally.resent[body["message"]] += 1
                    keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
                    continue
                self.tally.turns_ok += 1
                if attempt:
                    self.tally.retries += attempt
                return answer
            if attempt == 0:
                self.tally.first_failures[self._describe(outcome)] += 1
            if isinstance(outcome, httpx.Response) and _replayed_failure(outcome):
                # Final for this key: the turn was killed after its tool started.
                self.tally.interrupted += 1
                answer = await self._after_interruption(user, headers, body)
                if answer is not None:
                    self.tally.turns_ok += 1
                    return answer
                self.tally.resent[body["message"]] += 1
                keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
                continue
            if isinstance(outcome, httpx.Response) and outcome.status_code not in (
                409,
                500,
                502,
                503,
                504,
            ):
                self.tally.bad_answers.append(f"{outcome.status_code} {outcome.text[:200]}")
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
        self.tally.turns_failed += 1
        return None

    async def _after_interruption(
        self, user: str, headers: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The interrupted turn's outcome as a person finds it: its conversation, if its task
        is on the list; None if the task is not there (the message is to be sent again)."""
        title = body["message"].removeprefix("add ").lower()
        for _ in range(RETRY_ATTEMPTS):
            try:
                tasks = await self.client.get(f"/api/{user}/tasks", headers=headers)
                listed = await self.client.get(f"/api/{user}/conversations", headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if tasks.status_code == 200 and listed.status_code == 200:
                if title not in [task["title"].lower() for task in tasks.json()]:
                    return None
                conversation_id = body.get("conversation_id", listed.json()["items"][0]["id"])
                return {"conversation_id": conversation_id, "interrupted": True}
            await asyncio.sleep(0.5)
        return None

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response | Exception:
        try:
            return await self.client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return exc

    @staticmethod
    def _describe(outcome: httpx.Response | Exception) -> str:
        if isinstance(outcome, httpx.Response):
            return f"{outcome.status_code} {outcome.text[:60]}"
        return type(outcome).__name__

    async def rest(self, worker: int) -> None:
        """REST traffic beside the chats: reads (retried) and creates (never blindly resent)."""
        user = f"lb-rest-{self.run}-{worker}"
        headers = bearer(user)
        self.tally.rest_users.append(user)
        n = 0
        while n < MAX_TURNS * 3 and (n < MIN_TURNS * 3 or not self.chaos_done.is_set()):
            title = f"rest {worker} {n}"
            self.tally.requests["rest"] += 1
            created = await self._post(f"/api/{user}/tasks", {"title": title}, headers)
            if isinstance(created, httpx.Response) and created.status_code == 201:
                self.tally.rest_created.append(title)
            else:
                self.tally.first_failures[f"rest {self._describe(created)}"] += 1
                self.tally.rest_unknown.append(title)
                if isinstance(created, httpx.Response) and created.status_code < 500:
                    self.tally.bad_answers.append(f"{created.status_code} {created.text[:200]}")
            for path in (f"/api/{user}/tasks", f"/api/{user}/conversations"):
                self.tally.requests["rest"] += 1
                try:
                    read = await self.client.get(path, headers=headers)
                    if read.status_code != 200:
                        self.tally.rest_failed += 1
                        self.tally.first_failures[f"rest {read.status_code} {read.text[:60]}"] += 1
                except httpx.HTTPError as exc:
                    self.tally.rest_failed += 1
                    self.tally.first_failures[f"rest {type(exc).__name__}"] += 1
            n += 1
            await asyncio.sleep(PAUSE_SECONDS / 2)


@pytest.fixture(scope="module")
def balanced(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Balancer]]:
    folder = tmp_path_factory.mktemp("balanced")
    # A crashed turn's claim lapses with its lease (TURN_LEASE_SECONDS); TURN_CLAIM_SECONDS is
    # the longest a turn may run, short here so that a stuck turn fails the test in time.
    services = Stack(
        postgres_url,
        folder,
        apis=2,
        mcps=2,
        CHAT_RATE_LIMIT="0",
        REDIS_URL=REDIS_URL,
        TURN_CLAIM_SECONDS="20",
    )
    balancer = Balancer(folder, services.apis, services.mcps)
    for api in services.apis:  # the APIs reach the tools through the balancer too
        api.env = {**api.env, "MCP_SERVER_URL": balancer.mcp_url}
    try:
        for mcp in services.mcps:
            mcp.start()
        balancer.start()
        for api in services.apis:
            api.start()
        for name in ("mcps/mcp0", "mcps/mcp1", "apis/api0", "apis/api1"):
            balancer.wait_until(name, "UP")
        yield services, balancer
    finally:
        services.stop()
        balancer.stop()


def _replayed_failure(response: httpx.Response) -> bool:
    return response.status_code >= 500 and response.headers.get("Idempotent-Replayed") == "true"


def _run_load(balancer: Balancer, chaos: Callable[[], None]) -> tuple[Tally, float]:
    async def main() -> tuple[Tally, float]:
        tally = Tally()
        done = asyncio.Event()
        limits = httpx.Limits(max_connections=SESSIONS + 8)
        async with httpx.AsyncClient(
            base_url=balancer.api_url, timeout=60, limits=limits
        ) as client:
            load = Load(client, tally, done, uuid.uuid4().hex[:6])
            started = time.monotonic()

            async def run_chaos() -> None:
                try:
                    await asyncio.wait_for(asyncio.to_thread(chaos), CHAOS_TIMEOUT_SECONDS)
                finally:
                    done.set()

            await asyncio.gather(
                run_chaos(),
                *(load.session(n) for n in range(SESSIONS)),
                *(load.rest(worker) for worker in range(2)),
            )
            return tally, time.monotonic() - started

    return asyncio.run(main())


def _stored_effects(balancer: Balancer, tally: Tally) -> dict[str, int]:
    """Lost and duplicated records: the database against what the clients were told."""
    counts = Counter[str]()
    with httpx.Client(base_url=balancer.api_url, timeout=30) as client:

        def get(path: str, user: str) -> Any:
            response = client.get(path, headers=bearer(user))
            assert response.status_code == 200, response.text
            return response.json()

        for user, messages in tally.sent.items():
            tasks = get(f"/api/{user}/tasks", user)
            titles = [task["title"].lower() for task in tasks]
            expected = [message.removeprefix("add ").lower() for message in messages]
            counts["chat tasks expected"] += len(expected)
            missing = set(expected) - set(titles)
            counts["chat tasks lost"] += len(missing)
            tally.lost += [
                str(tally.answers.get(message))
                for message in messages
                if message.removeprefix("add ").lower() in missing
            ]
            counts["chat tasks duplicated"] += len(titles) - len(set(titles))
            # A turn that no retry completed may have added its task once; never twice.
            counts["chat tasks of failed turns"] += len(set(titles) - set(expected))
            if user in tally.conversations:
                stored = get(
                    f"/api/{user}/conversations/{tally.conversations[user]}/messages", user
                )
                said = [m["content"] for m in stored if m["role"] == "user"]
                counts["chat messages lost"] += len(set(messages) - set(said))
                # A message sent again, after an interrupted turn or after a reply that said a
                # tool could not run, is in the history once more per resend (the earlier turn
                # is stored with its reply); any other repeat is a duplicate.
                counts["chat messages duplicated"] += sum(
                    max(0, said.count(message) - 1 - tally.resent[message]) for message in set(said)
                )
        stored_titles: list[str] = []
        for user in tally.rest_users:
            stored_titles += [task["title"] for task in get(f"/api/{user}/tasks", user)]
        counts["rest tasks lost"] = len(set(tally.rest_created) - set(stored_titles))
        counts["rest tasks duplicated"] = len(stored_titles) - len(set(stored_titles))
    return dict(counts)


def _report(name: str, tally: Tally, effects: dict[str, int], seconds: float) -> None:
    figures.count(f"load balancer, {name}: chat requests", tally.requests["chat"])
    figures.count(f"load balancer, {name}: REST requests", tally.requests["rest"])
    figures.count(f"load balancer, {name}: chat turns completed", tally.turns_ok)
    figures.count(f"load balancer, {name}: chat turns failed after retries", tally.turns_failed)
    figures.count(f"load balancer, {name}: chat retries", tally.retries)
    figures.count(
        f"load balancer, {name}: chat turns interrupted (replayed 503)", tally.interrupted
    )
    figures.count(
        f"load balancer, {name}: chat messages sent again after an interruption",
        sum(tally.resent.values()),
    )
    figures.count(
        f"load balancer, {name}: chat replies 'a tool could not run'", tally.tool_failures
    )
    figures.count(
        f"load balancer, {name}: failed first attempts", sum(tally.first_failures.values())
    )
    for what, amount in effects.items():
        if "expected" not in what:
            figures.count(f"load balancer, {name}: {what}", amount)
    figures.count(f"load balancer, {name}: seconds", round(seconds))
    print(f"\n{name}: {dict(tally.first_failures)} {effects}")


def test_a_rolling_restart_behind_haproxy_fails_no_request_and_loses_nothing(
    balanced: tuple[Stack, Balancer],
) -> None:
    services, balancer = balanced
    order = [
        (services.apis[0], "apis/api0"),
        (services.mcps[0], "mcps/mcp0"),
        (services.apis[1], "apis/api1"),
        (services.mcps[1], "mcps/mcp1"),
    ]
    restarted: list[str] = []

    def rolling_restart() -> None:
        time.sleep(2)  # the load is under way
        for service, name in order:
            balancer.drain(name)
            service.stop(signal.SIGTERM)  # graceful: finishes what it is serving
            service.start()
            balancer.enable(name)  # and its health check passes again
            restarted.append(name)

    tally, seconds = _run_load(balancer, rolling_restart)
    effects = _stored_effects(balancer, tally)
    _report("rolling restart", tally, effects, seconds)
    assert restarted == [name for _, name in order]
    assert tally.turns_ok >= SESSIONS * MIN_TURNS
    assert dict(tally.first_failures) == {} and tally.rest_failed == 0
    assert tally.turns_failed == 0 and tally.rest_unknown == [] and tally.tool_failures == 0
    assert tally.bad_answers == []
    assert {what: n for what, n in effects.items() if "expected" not in what} == dict.fromkeys(
        [
            "chat tasks lost",
            "chat tasks duplicated",
            "chat tasks of failed turns",
            "chat messages lost",
            "chat messages duplicated",
            "rest tasks lost",
            "rest tasks duplicated",
        ],
        0,
    )


def test_a_killed_api_and_mcp_replica_fail_only_their_requests_and_retries_have_one_effect(
    balanced: tuple[Stack, Balancer],
) -> None:
    services, balancer = balanced
    killed: list[str] = []

    def crash() -> None:
        time.sleep(3)
        services.apis[0].stop(signal.SIGKILL)
        services.mcps[0].stop(signal.SIGKILL)
        killed.extend(["apis/api0", "mcps/mcp0"])
        balancer.wait_until("apis/api0", "DOWN")
        balancer.wait_until("mcps/mcp0", "DOWN")
        time.sleep(3)  # the survivors carry the load alone for a while
        services.mcps[0].start()
        services.apis[0].start()
        balancer.wait_until("mcps/mcp0", "UP")
        balancer.wait_until("apis/api0", "UP")

    tally, seconds = _run_load(balancer, crash)
    effects = _stored_effects(balancer, tally)
    _report("SIGKILL", tally, effects, seconds)
    assert killed == ["apis/api0", "mcps/mcp0"]
    assert tally.bad_answers == []  # every failure a clean 5xx (or a cut connection)
    assert tally.turns_failed == 0  # the retries completed every turn
    assert tally.turns_ok >= SESSIONS * MIN_TURNS
    for what in ("chat tasks lost", "chat messages lost", "rest tasks lost"):
        assert effects[what] == 0, (what, effects, tally.lost)
    for what in ("chat messages duplicated", "rest tasks duplicated"):
        assert effects[what] == 0, (what, effects)
    assert effects["chat tasks of failed turns"] == 0
    # A retry never runs a killed turn's tools again: the journal left its "interrupted" answer
    # on the key; and a message is sent again (new key) only when its task is not on the list,
    # so a tool call whose MCP server died after committing leaves its task once too.
    assert effects["chat tasks duplicated"] == 0, (effects, dict(tally.first_failures))
    # A REST create whose answer was cut off is not resent: it happened at most once.
    assert len(tally.rest_unknown) <= sum(tally.first_failures.values())
