"""One chat turn, used by both chat routes: the streaming route forwards its events, the plain
route waits for the last one. Every way in calls `begin_turn` (= prepare_turn + start_turn)
with the app's model, settings and MCP client (`backend.deps`).

    prepare_turn   idempotency check, claim the conversation, load the bounded history
                   (short transactions; raises domain errors, which `backend.errors` maps)
    start_turn     run the agent in a task of its own, with no database session held while the
                   model or a tool runs; then store the turn in one short transaction

What is stored keeps the history in step with the task list:
- success: the user message and the assistant reply with its tool calls;
- failure before any tool ran: nothing (a conversation created for the turn is removed), so a
  retry is clean;
- failure after a tool ran: the user message and an assistant message holding the tool calls
  that ran and a note that the reply failed;
- stopped (`TurnRun.cancel`, or a cancel request on any replica, see `backend.chat.cancel`): the
  user message and an assistant message saying the reply was stopped and what was done before,
  with the tool calls that ran; no half-written text.

The turn runs in its own task so that a client that goes away mid-stream does not cut it short:
it finishes, and is stored, exactly as if someone were still listening. That task also opens
and closes the MCP connection, which must happen in one task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from agents import Model, ModelBehaviorError, RunConfig, Runner
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.stream_events import RawResponsesStreamEvent, RunItemStreamEvent, StreamEvent

from backend.chat import cancel, claims, delete_guard, idempotency, lease
from backend.chat.agent import ChatContext, build_agent
from backend.chat.deadline import turn_deadline
from backend.chat.delete_guard import DeleteGuard
from backend.chat.history import ToolCallLog, ToolCallRecord, replay
from backend.chat.journal import TurnJournal
from backend.chat.mcp_client import TaskServerClient, TaskServerError
from backend.chat.provider_errors import classify
from backend.chat.reply import ReplyText
from backend.chat.tool_errors import format_tool_error
from backend.chat.tracing_key import tracing_allowed
from backend.config import Settings
from backend.db import session_scope
from backend.dbwork import database_work
from backend.errors import Problem, problem_for
from backend.observability.model import observed_model
from backend.observability.tracing import tracing_enabled
from backend.observability.turns import count_rejected_turn, note_turn_failure, observed_turn

log = logging.getLogger(__name__)

MAX_TURNS = 10  # model calls per chat turn: enough for list → act → act → reply, bounded
IDEMPOTENCY_WAIT_SECONDS = 30.0  # how long a retry waits for the first request to finish
NOT_SAVED = Problem(503, "The database is unavailable; the reply was not saved")


@dataclass(frozen=True)
class TurnRequest:
    user_id: str
    token: str  # the caller's own token, forwarded to the MCP server
    message: str
    conversation_id: int | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PreparedTurn:
    request: TurnRequest
    claimed: claims.ClaimedTurn
    fingerprint: str | None


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnStarted:
    conversation_id: int


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolStarted:
    """A tool is running (the WebSocket channel shows it as `typing`; SSE has no such event)."""

    tool: str


@dataclass(frozen=True)
class ToolCalled:
    call: ToolCallRecord


@dataclass(frozen=True)
class TurnDone:
    conversation_id: int
    response: str
    tool_calls: list[ToolCallRecord]
    message_ids: tuple[int, int] | None = None  # the stored (user message, reply), once stored

    def body(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "response": self.response,
            "tool_calls": [call.public() for call in self.tool_calls],
        }

    def stored_body(self) -> dict[str, Any]:
        """`body()` as kept for an Idempotency-Key replay: tool results bounded."""
        return {**self.body(), "tool_calls": [call.stored_public() for call in self.tool_calls]}


@dataclass(frozen=True)
class TurnFailed:
    """The turn failed; `problem` is what the caller is told (`backend.errors.problem_for`)."""

    problem: Problem
    # When tools had run, the turn was stored anyway: the (user message, note) ids.
    message_ids: tuple[int, int] | None = None

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def detail(self) -> str:
        return self.problem.detail


TurnEvent = TurnStarted | TextDelta | ToolStarted | ToolCalled | TurnDone | TurnFailed


# --- preparing ---------------------------------------------------------------------------


def _claim(request: TurnRequest, settings: Settings) -> claims.ClaimedTurn:
    # One write (the claim) and a read: no transaction needed (see `backend.chat.claims`).
    with session_scope(autocommit=True) as session:
        return claims.claim_turn(
            session=session,
            user_id=request.user_id,
            conversation_id=request.conversation_id,
            first_message=request.message,
            history_limit=settings.history_limit,
            claim_seconds=settings.turn_lease_seconds,  # renewed while the turn runs
        )


def _begin_idempotent(
    request: TurnRequest, fingerprint: str, settings: Settings
) -> idempotency.StoredAnswer | None:
    assert request.idempotency_key is not None
    with session_scope(autocommit=True) as session:  # single statements (see `begin`)
        return idempotency.begin(
            session=session,
            user_id=request.user_id,
            key=request.idempotency_key,
            request_fingerprint=fingerprint,
            lease_seconds=settings.turn_lease_seconds,
        )


def _release_key(request: TurnRequest) -> None:
    if request.idempotency_key is None:
        return
    with session_scope(autocommit=True) as session:  # one statement
        idempotency.release(session=session, user_id=request.user_id, key=request.idempotency_key)
        session.commit()


async def _wait_for_first_answer(
    request: TurnRequest, fingerprint: str, settings: Settings
) -> idempotency.StoredAnswer | None:
    """Retry of a request still running: poll for its answer (bounded), then give up.

    Raises idempotency.KeyStillRunningError, or KeyReusedError for a different request.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(IDEMPOTENCY_WAIT_SECONDS, settings.turn_claim_seconds)
    delay = 0.05
    while True:
        try:
            return await database_work().run(_begin_idempotent, request, fingerprint, settings)
        except idempotency.KeyStillRunningError:
            if loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def prepare_turn(
    request: TurnRequest, settings: Settings
) -> PreparedTurn | idempotency.StoredAnswer:
    """Claim the conversation and load its history, or return the stored answer of a retry.

    Raises the domain errors that `backend.errors` maps to answers: ConversationNotFoundError,
    TurnInProgressError, idempotency.KeyStillRunningError / KeyReusedError.
    """
    fingerprint = None
    if request.idempotency_key is not None:
        fingerprint = idempotency.fingerprint(request.message, request.conversation_id)
        stored = await _wait_for_first_answer(request, fingerprint, settings)
        if stored is not None:
            return stored
    try:
        claimed = await database_work().run(_claim, request, settings)
    except BaseException:
        await database_work().run(_release_key, request)
        raise
    return PreparedTurn(request=request, claimed=claimed, fingerprint=fingerprint)


# --- running -----------------------------------------------------------------------------


def _interrupted_reply(detail: str) -> str:
    return f"Sorry, I could not finish this reply ({detail}). The actions listed above were done."


# --- cancel (#22): what a stopped turn says and stores ----------------------------------------


def _stopped_reply(records: list[ToolCallRecord]) -> str:
    if not records:
        return "Stopped. Nothing was done before stopping."
    done = "; ".join(f"{record.tool} {json.dumps(record.parameters)}" for record in records)
    return f"Stopped. Done before stopping: {done}."


class TurnRun:
    """A running turn. `events()` yields its events; the turn goes on if nobody listens.

    `cancel()` stops it (see `_execute`).
    """

    _running: set[asyncio.Task[None]] = set()  # strong references until each turn is done

    @classmethod
    def running(cls) -> set[asyncio.Task[None]]:
        """The turns running in this process (the shutdown waits for them)."""
        return set(cls._running)

    def __init__(
        self,
        prepared: PreparedTurn,
        model: Model,
        settings: Settings,
        task_servers: TaskServerClient,
    ) -> None:
        self.prepared = prepared
        self.journal: TurnJournal | None = None
        self._queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
        self._stop = asyncio.Event()
        self.stopped = False  # the turn was cut short by `cancel` (set once its model call ends)
        task = asyncio.get_running_loop().create_task(self._run(model, settings, task_servers))
        TurnRun._running.add(task)
        task.add_done_callback(TurnRun._running.discard)
        self._task = task

    def cancel(self) -> None:
        """Stop the turn now: the model call (or tool) in flight is cancelled; what ran is kept."""
        self._stop.set()

    async def finished(self) -> None:
        """Wait until the turn has ended and been stored (its events need not be read)."""
        await asyncio.shield(self._task)

    def when_finished(self, callback: Callable[[], None]) -> None:
        self._task.add_done_callback(lambda _: callback())

    async def events(self) -> AsyncIterator[TurnEvent]:
        while (event := await self._queue.get()) is not None:
            yield event

    async def result(self) -> TurnDone | TurnFailed:
        async for event in self.events():
            if isinstance(event, TurnDone | TurnFailed):
                return event
        raise RuntimeError("the turn ended without a result")  # pragma: no cover

    async def _run(self, model: Model, settings: Settings, task_servers: TaskServerClient) -> None:
        emit = self._queue.put_nowait
        with observed_turn(self.prepared.claimed.conversation_id) as observed:  # metrics, span
            try:
                emit(TurnStarted(self.prepared.claimed.conversation_id))
                outcome = await self._execute(model, settings, task_servers, emit)
                if isinstance(outcome, TurnDone):
                    observed.outcome = "ok"
                emit(outcome)
            except Exception:  # storing failed (database down): the claim expires on its own
                observed.outcome = "store_error"
                log.exception("a chat turn could not be stored")
                emit(TurnFailed(NOT_SAVED))
            finally:
                emit(None)

    async def _execute(
        self,
        model: Model,
        settings: Settings,
        task_servers: TaskServerClient,
        emit: Callable[[TurnEvent], None],
    ) -> TurnDone | TurnFailed:
        request, claimed = self.prepared.request, self.prepared.claimed
        calls = ToolCallLog()
        journal = self.journal = TurnJournal(  # tool calls written as they happen
            user_id=request.user_id,
            conversation_id=claimed.conversation_id,
            user_message=request.message,
            started_at=claimed.started_at,
            idempotency_key=request.idempotency_key,
            fingerprint=self.prepared.fingerprint,
        )
        beating = lease.heartbeat(  # the claim is renewed while the turn runs
            user_id=request.user_id,
            conversation_id=claimed.conversation_id,
            claim=claimed.claim,
            key=request.idempotency_key,
            lease_seconds=settings.turn_lease_seconds,
        )
        try:
            async with beating:
                # The conversation runs in a task of its own, so that a cancel can stop it
                # mid-call.
                agent = asyncio.create_task(
                    self._converse(model, settings, task_servers, calls, emit, journal)
                )
                watcher = asyncio.create_task(self._watch_for_cancel(agent, settings))
                try:
                    reply = await agent
                finally:
                    watcher.cancel()
        except asyncio.CancelledError:
            if self.stopped:  # stopped by `cancel`, not the turn itself cancelled (shutdown)
                return await self._record_stopped(calls)
            # Cut off (the server is stopping and the grace period is over): keep what ran.
            log.warning(
                "chat turn cut off before it finished",
                extra={
                    "conversation_id": claimed.conversation_id,
                    "tools_started": len(journal.entries),
                },
            )
            if calls.records() or journal.started:
                detail = "The server stopped before the reply was finished"
                await database_work().run(
                    self._store,
                    _interrupted_reply(detail),
                    calls.records(),
                    503,
                    {"detail": detail},
                )
            else:
                await database_work().run(self._abandon)
            raise
        except Exception as exc:
            if self.stopped:  # the cancel surfaced as the MCP client's error: still a stop
                return await self._record_stopped(calls)
            note_turn_failure(exc)
            problem = problem_for(exc)
            if problem.status >= 500 and not isinstance(exc, TaskServerError):
                provider = classify(exc)  # the provider's status, code and request id
                log.warning(
                    "chat turn failed",
                    exc_info=problem.status == 500,
                    extra=provider.log_fields if provider else {"error_type": type(exc).__name__},
                )
            records = calls.records()
            if records or journal.started:
                stored = await database_work().run(
                    self._store,
                    _interrupted_reply(problem.detail),
                    records,
                    problem.status,
                    {"detail": problem.detail},
                )
                return TurnFailed(problem, message_ids=stored)
            await database_work().run(self._abandon)
            return TurnFailed(problem)
        done = TurnDone(claimed.conversation_id, reply, calls.records())
        stored = await database_work().run(
            self._store, reply, done.tool_calls, 200, done.stored_body()
        )
        return dataclasses.replace(done, message_ids=stored)

    async def _converse(
        self,
        model: Model,
        settings: Settings,
        task_servers: TaskServerClient,
        calls: ToolCallLog,
        emit: Callable[[TurnEvent], None],
        journal: TurnJournal,
    ) -> str:
        """Run the agent on the history and the new message; the reply to store."""
        request, claimed = self.prepared.request, self.prepared.claimed
        reply_text = ReplyText()
        # A turn never outlives its claim, so two turns never run in one conversation; and
        # never TURN_TIMEOUT_SECONDS, every model call and retry included.
        async with turn_deadline(min(settings.turn_claim_seconds, settings.turn_timeout_seconds)):
            async with task_servers.connect(request.token, settings, watcher=journal) as server:
                history = replay(claimed.history)
                guard = DeleteGuard.for_turn(  # delete guard: see backend/chat/delete_guard.py
                    request.message, history, settings.delete_confirm_threshold
                )
                result = Runner.run_streamed(
                    build_agent(server, observed_model(model, settings)),
                    input=[*history, {"role": "user", "content": request.message}],
                    context=ChatContext(request.user_id, claimed.conversation_id, guard),
                    max_turns=MAX_TURNS,
                    run_config=RunConfig(
                        # The SDK's spans go to OpenAI (TRACING, with OpenAI's own key only:
                        # tracing_key.py) and/or to OpenTelemetry.
                        tracing_disabled=not (tracing_allowed(settings) or tracing_enabled()),
                        workflow_name="Todo chat",
                        # An invented tool name is the model's mistake: it reads an error
                        # naming the real tools and tries again (tool_errors.py).
                        tool_not_found_behavior="return_error_to_model",
                        tool_error_formatter=format_tool_error,
                    ),
                )
                async for event in result.stream_events():
                    self._forward(event, calls, reply_text.add(emit))
                final = "" if result.final_output is None else str(result.final_output)
                # Text written before a tool call is part of the reply too.
                reply = reply_text.reply(final)
                if result.interruptions:  # delete guard: deletes held back, ask the user
                    reply = delete_guard.hold(result.interruptions, calls.finished)
                if not reply.strip():
                    # A provider stream of garbage (chunks without choices) ends without an
                    # error but with nothing to say: a failure, not an empty stored reply.
                    raise ModelBehaviorError("the model returned an empty answer")
                return reply

    # --- cancel (#22) ----------------------------------------------------------------------

    async def _watch_for_cancel(self, agent: asyncio.Task[str], settings: Settings) -> None:
        """Cancel `agent` when `cancel()` is called here, or a cancel request is found in the
        database (made on any replica; polled every `turn_cancel_poll_seconds`)."""
        while not agent.done():
            try:
                async with asyncio.timeout(settings.turn_cancel_poll_seconds):
                    await self._stop.wait()
            except TimeoutError:
                if not await self._cancel_requested_elsewhere():
                    continue
            self.stopped = True
            agent.cancel()
            return

    async def _cancel_requested_elsewhere(self) -> bool:
        request, claimed = self.prepared.request, self.prepared.claimed

        def check() -> bool:
            with session_scope(autocommit=True) as session:  # one read, no transaction
                return cancel.cancel_requested(
                    session=session,
                    user_id=request.user_id,
                    conversation_id=claimed.conversation_id,
                    claim=claimed.claim,
                )

        try:
            return await database_work().run(check)
        except Exception:  # the database is down: the turn goes on, the next poll retries
            log.warning("could not check for a cancel request", exc_info=True)
            return False

    async def _record_stopped(self, calls: ToolCallLog) -> TurnDone:
        """Store what ran before the stop (always the user message: the user saw it sent)."""
        records = calls.records()
        done = TurnDone(self.prepared.claimed.conversation_id, _stopped_reply(records), records)
        stored = await database_work().run(
            self._store, done.response, records, 200, done.stored_body()
        )
        return dataclasses.replace(done, message_ids=stored)

    @staticmethod
    def _forward(event: StreamEvent, calls: ToolCallLog, emit: Callable[[TurnEvent], None]) -> None:
        if isinstance(event, RawResponsesStreamEvent):
            if event.data.type == "response.output_text.delta" and event.data.delta:
                emit(TextDelta(event.data.delta))
        elif isinstance(event, RunItemStreamEvent):
            if event.name == "tool_called" and isinstance(event.item, ToolCallItem):
                calls.call(event.item)
                emit(ToolStarted(str(getattr(event.item.raw_item, "name", "tool"))))
            elif event.name == "tool_output" and isinstance(event.item, ToolCallOutputItem):
                record = calls.output(event.item)
                if record is not None:
                    emit(ToolCalled(record))

    def _store(
        self, reply: str, records: list[ToolCallRecord], status: int, body: dict[str, Any]
    ) -> tuple[int, int]:
        request, prepared = self.prepared.request, self.prepared
        stored_calls = [record.stored() for record in records]
        if not stored_calls and self.journal is not None:
            stored_calls = list(self.journal.entries)  # sent, but the SDK never reported them
        with session_scope() as session:
            stored = claims.record_turn(
                session=session,
                user_id=request.user_id,
                turn=prepared.claimed,
                user_message=request.message,
                reply=reply,
                tool_calls=stored_calls,
                # The journal's messages, if it wrote them, become the final ones in place.
                journaled=None if self.journal is None else self.journal.message_ids,
            )
            if request.idempotency_key is not None and prepared.fingerprint is not None:
                idempotency.store_answer(
                    session=session,
                    user_id=request.user_id,
                    key=request.idempotency_key,
                    request_fingerprint=prepared.fingerprint,
                    answer=idempotency.StoredAnswer(status, body),
                    conversation_id=prepared.claimed.conversation_id,
                )
            session.commit()
        return stored

    def _abandon(self) -> None:
        request = self.prepared.request
        with session_scope() as session:
            claims.abandon_turn(
                session=session, user_id=request.user_id, turn=self.prepared.claimed
            )
            if request.idempotency_key is not None:
                idempotency.release(
                    session=session, user_id=request.user_id, key=request.idempotency_key
                )
            session.commit()


def start_turn(
    prepared: PreparedTurn, model: Model, settings: Settings, task_servers: TaskServerClient
) -> TurnRun:
    """Start running a prepared turn (call from within the event loop)."""
    return TurnRun(prepared, model, settings, task_servers)


async def begin_turn(
    request: TurnRequest, *, model: Model, settings: Settings, task_servers: TaskServerClient
) -> TurnRun | idempotency.StoredAnswer:
    """Prepare and start a turn: the entry point for every way in (JSON, SSE, ...).

    Returns the running turn, or the stored answer of an idempotent retry. Raises the domain
    errors of `prepare_turn` before anything runs; once running, a failure is a `TurnFailed`
    event (`problem` says what to tell the caller).
    """
    try:
        prepared = await prepare_turn(request, settings)
    except Exception as exc:
        count_rejected_turn(exc)  # a 404 / 409 / 422 refusal counts as a rejected turn
        raise
    if isinstance(prepared, idempotency.StoredAnswer):
        return prepared
    return start_turn(prepared, model, settings, task_servers)
