"""One chat turn, used by both chat routes: the streaming route forwards its events, the plain
route waits for the last one.

    prepare_turn   idempotency check, claim the conversation, load the bounded history
                   (short transactions; errors here are ordinary HTTP errors)
    start_turn     run the agent in a task of its own, with no database session held while the
                   model or a tool runs; then store the turn in one short transaction

What is stored keeps the history in step with the task list:
- success: the user message and the assistant reply with its tool calls;
- failure before any tool ran: nothing (a conversation created for the turn is removed), so a
  retry is clean;
- failure after a tool ran: the user message and an assistant message holding the tool calls
  that ran and a note that the reply failed.

The turn runs in its own task so that a client that goes away mid-stream does not cut it short:
it finishes, and is stored, exactly as if someone were still listening. That task also opens
and closes the MCP connection, which must happen in one task.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from agents import (
    MaxTurnsExceeded,
    Model,
    ModelBehaviorError,
    RunConfig,
    Runner,
    UserError,
)
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.stream_events import RawResponsesStreamEvent, RunItemStreamEvent, StreamEvent
from fastapi.concurrency import run_in_threadpool

from backend.chat import idempotency, store
from backend.chat.agent import ChatContext, build_agent
from backend.chat.deadline import turn_deadline
from backend.chat.history import ToolCallRecord, replay
from backend.chat.mcp_client import TaskServerError, task_server
from backend.chat.provider_errors import classify
from backend.chat.reply import ReplyText
from backend.chat.tool_errors import format_tool_error, is_error_output
from backend.chat.tracing_key import tracing_allowed
from backend.config import Settings
from backend.db import session_scope

log = logging.getLogger(__name__)

MAX_TURNS = 10  # model calls per chat turn: enough for list → act → act → reply, bounded
IDEMPOTENCY_WAIT_SECONDS = 30.0  # how long a retry waits for the first request to finish
NO_RESULT = {"error": "The turn stopped before this tool answered; the change may have been made."}


class TurnRejectedError(Exception):
    """The turn cannot start. Raised before any streaming begins: an ordinary HTTP error."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


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
    claimed: store.ClaimedTurn
    fingerprint: str | None


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnStarted:
    conversation_id: int


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCalled:
    call: ToolCallRecord


@dataclass(frozen=True)
class TurnDone:
    conversation_id: int
    response: str
    tool_calls: list[ToolCallRecord]

    def body(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "response": self.response,
            "tool_calls": [call.public() for call in self.tool_calls],
        }


@dataclass(frozen=True)
class TurnFailed:
    status: int
    detail: str
    retry_after: int | None = None  # seconds, for a Retry-After header


TurnEvent = TurnStarted | TextDelta | ToolCalled | TurnDone | TurnFailed


# --- preparing ---------------------------------------------------------------------------


def _claim(request: TurnRequest, settings: Settings) -> store.ClaimedTurn:
    with session_scope() as session:
        return store.claim_turn(
            session,
            user_id=request.user_id,
            conversation_id=request.conversation_id,
            first_message=request.message,
            history_limit=settings.history_limit,
            claim_seconds=settings.turn_claim_seconds,
        )


def _begin_idempotent(
    request: TurnRequest, fingerprint: str, settings: Settings
) -> idempotency.StoredAnswer | None:
    assert request.idempotency_key is not None
    with session_scope() as session:
        return idempotency.begin(
            session,
            user_id=request.user_id,
            key=request.idempotency_key,
            request_fingerprint=fingerprint,
            stale_after=settings.turn_claim_seconds,
        )


def _release_key(request: TurnRequest) -> None:
    if request.idempotency_key is None:
        return
    with session_scope() as session:
        idempotency.release(session, user_id=request.user_id, key=request.idempotency_key)
        session.commit()


async def _wait_for_first_answer(
    request: TurnRequest, fingerprint: str, settings: Settings
) -> idempotency.StoredAnswer | None:
    """Retry of a request still running: poll for its answer (bounded), then 409."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(IDEMPOTENCY_WAIT_SECONDS, settings.turn_claim_seconds)
    delay = 0.05
    while True:
        try:
            return await run_in_threadpool(_begin_idempotent, request, fingerprint, settings)
        except idempotency.KeyStillRunningError as exc:
            if loop.time() + delay > deadline:
                raise TurnRejectedError(409, str(exc), {"Retry-After": "5"}) from None
        except idempotency.KeyReusedError as exc:
            raise TurnRejectedError(422, str(exc)) from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def prepare_turn(
    request: TurnRequest, settings: Settings
) -> PreparedTurn | idempotency.StoredAnswer:
    """Claim the conversation and load its history, or return the stored answer of a retry."""
    fingerprint = None
    if request.idempotency_key is not None:
        fingerprint = idempotency.fingerprint(request.message, request.conversation_id)
        stored = await _wait_for_first_answer(request, fingerprint, settings)
        if stored is not None:
            return stored
    try:
        claimed = await run_in_threadpool(_claim, request, settings)
    except store.ConversationNotFoundError as exc:
        await run_in_threadpool(_release_key, request)
        raise TurnRejectedError(404, "Conversation not found") from exc
    except store.TurnInProgressError as exc:
        await run_in_threadpool(_release_key, request)
        raise TurnRejectedError(409, str(exc), {"Retry-After": "2"}) from exc
    except BaseException:
        await run_in_threadpool(_release_key, request)
        raise
    return PreparedTurn(request=request, claimed=claimed, fingerprint=fingerprint)


# --- running -----------------------------------------------------------------------------


def _output_text(output: Any) -> str:
    """The text of a function_call_output: a string, or a list of content parts."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "\n".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
    return str(output)


def _result(output: Any, is_error: bool) -> Any:
    """A tool result as JSON: the structured content the model saw, or {"error": message}."""
    text = _output_text(output)
    if is_error:
        return {"error": text}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parameters(arguments: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


@dataclass
class _ToolCallLog:
    """The turn's tool calls in the order the model made them, completed as results arrive."""

    called: dict[str, tuple[str, str]] = field(default_factory=dict)  # call_id: name, arguments
    finished: dict[str, ToolCallRecord] = field(default_factory=dict)

    def call(self, item: ToolCallItem) -> None:
        raw = item.raw_item
        if _field(raw, "type") == "function_call":
            self.called[_field(raw, "call_id")] = (_field(raw, "name"), _field(raw, "arguments"))

    def output(self, item: ToolCallOutputItem) -> ToolCallRecord | None:
        raw = item.raw_item
        call_id = _field(raw, "call_id")
        if call_id not in self.called:
            return None
        name, arguments = self.called[call_id]
        output = _field(raw, "output")
        # A call the task server never answered (down, killed) gets the client's TOOL_FAILED
        # text with no MCP result: report it as an error too, not as a successful string.
        is_error = bool((item.custom_data or {}).get("is_error")) or is_error_output(output)
        record = ToolCallRecord(
            call_id, name, _parameters(arguments), _result(output, is_error), arguments, output
        )
        self.finished[call_id] = record
        return record

    def records(self) -> list[ToolCallRecord]:
        """Finished calls, plus any still waiting for a result: they may have changed data."""
        records = []
        for call_id, (name, arguments) in self.called.items():
            record = self.finished.get(call_id)
            if record is None:
                record = ToolCallRecord(
                    call_id,
                    name,
                    _parameters(arguments),
                    NO_RESULT,
                    arguments,
                    json.dumps(NO_RESULT),
                )
            records.append(record)
        return records


def _failure(exc: BaseException) -> tuple[int, str]:
    """A plain reason for the caller; never the exception text (it may hold URLs or keys)."""
    if isinstance(exc, TaskServerError):
        return exc.status, exc.detail
    provider = classify(exc)
    if provider is not None:
        return provider.status, provider.detail
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return 503, "The model did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return 503, "The model provider could not be reached"
    if isinstance(exc, openai.RateLimitError):
        return 503, "The model provider is rate limiting requests; try again shortly"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return 503, "The model provider rejected the configured API key"
    if isinstance(exc, openai.OpenAIError):
        return 503, "The model provider returned an error"
    if isinstance(exc, MaxTurnsExceeded):
        return 503, "The assistant needed too many steps; try a simpler request"
    if isinstance(exc, ModelBehaviorError | json.JSONDecodeError):
        return 503, "The model returned an answer the assistant could not use"
    if isinstance(exc, UserError | BaseExceptionGroup):
        # Raised by the MCP client when the task server goes away in the middle of a turn.
        return 503, "The task server is unavailable"
    return 500, "Internal server error"


def _interrupted_reply(detail: str) -> str:
    return f"Sorry, I could not finish this reply ({detail}). The actions listed above were done."


class TurnRun:
    """A running turn. `events()` yields its events; the turn goes on if nobody listens."""

    _running: set[asyncio.Task[None]] = set()  # strong references until each turn is done

    def __init__(self, prepared: PreparedTurn, model: Model, settings: Settings) -> None:
        self.prepared = prepared
        self._queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self._run(model, settings))
        TurnRun._running.add(task)
        task.add_done_callback(TurnRun._running.discard)

    async def events(self) -> AsyncIterator[TurnEvent]:
        while (event := await self._queue.get()) is not None:
            yield event

    async def result(self) -> TurnDone | TurnFailed:
        async for event in self.events():
            if isinstance(event, TurnDone | TurnFailed):
                return event
        raise RuntimeError("the turn ended without a result")  # pragma: no cover

    async def _run(self, model: Model, settings: Settings) -> None:
        emit = self._queue.put_nowait
        try:
            emit(TurnStarted(self.prepared.claimed.conversation_id))
            emit(await self._execute(model, settings, emit))
        except Exception:  # storing failed (database down): the claim expires on its own
            log.exception("a chat turn could not be stored")
            emit(TurnFailed(503, "The database is unavailable; the reply was not saved"))
        finally:
            emit(None)

    async def _execute(
        self, model: Model, settings: Settings, emit: Callable[[TurnEvent], None]
    ) -> TurnDone | TurnFailed:
        request, claimed = self.prepared.request, self.prepared.claimed
        calls = _ToolCallLog()
        reply_text = ReplyText()
        try:
            # A turn never outlives its claim, so two turns never run in one conversation; and
            # never TURN_TIMEOUT_SECONDS, every model call and retry included.
            limit = min(settings.turn_claim_seconds, settings.turn_timeout_seconds)
            async with turn_deadline(limit):
                async with task_server(request.token, settings) as server:
                    result = Runner.run_streamed(
                        build_agent(server, model),
                        input=[
                            *replay(claimed.history),
                            {"role": "user", "content": request.message},
                        ],
                        context=ChatContext(request.user_id, claimed.conversation_id),
                        max_turns=MAX_TURNS,
                        run_config=RunConfig(
                            tracing_disabled=not tracing_allowed(settings),
                            workflow_name="Todo chat",
                            # An invented tool name is the model's mistake: it reads an error
                            # naming the real tools and tries again.
                            tool_not_found_behavior="return_error_to_model",
                            tool_error_formatter=format_tool_error,
                        ),
                    )
                    async for event in result.stream_events():
                        self._forward(event, calls, reply_text.add(emit))
                    final = "" if result.final_output is None else str(result.final_output)
                    # Text written before a tool call is part of the reply too.
                    reply = reply_text.reply(final)
                    if not reply.strip():
                        # A provider stream of garbage (chunks without choices) ends without an
                        # error but with nothing to say: a failure, not an empty stored reply.
                        raise ModelBehaviorError("the model returned an empty answer")
        except Exception as exc:
            status, detail = _failure(exc)
            provider = classify(exc)
            if status >= 500 and not isinstance(exc, TaskServerError):
                log.warning(
                    "chat turn failed",
                    exc_info=status == 500,
                    extra=provider.log_fields
                    if provider is not None
                    else {"error_type": type(exc).__name__},
                )
            records = calls.records()
            if records:
                await run_in_threadpool(
                    self._store, _interrupted_reply(detail), records, status, {"detail": detail}
                )
            else:
                await run_in_threadpool(self._abandon)
            retry_after = provider.retry_after if provider is not None else None
            return TurnFailed(status, detail, retry_after)
        done = TurnDone(claimed.conversation_id, reply, calls.records())
        await run_in_threadpool(self._store, reply, done.tool_calls, 200, done.body())
        return done

    @staticmethod
    def _forward(
        event: StreamEvent, calls: _ToolCallLog, emit: Callable[[TurnEvent], None]
    ) -> None:
        if isinstance(event, RawResponsesStreamEvent):
            if event.data.type == "response.output_text.delta" and event.data.delta:
                emit(TextDelta(event.data.delta))
        elif isinstance(event, RunItemStreamEvent):
            if event.name == "tool_called" and isinstance(event.item, ToolCallItem):
                calls.call(event.item)
            elif event.name == "tool_output" and isinstance(event.item, ToolCallOutputItem):
                record = calls.output(event.item)
                if record is not None:
                    emit(ToolCalled(record))

    def _store(
        self, reply: str, records: list[ToolCallRecord], status: int, body: dict[str, Any]
    ) -> None:
        request, prepared = self.prepared.request, self.prepared
        with session_scope() as session:
            store.record_turn(
                session,
                user_id=request.user_id,
                turn=prepared.claimed,
                user_message=request.message,
                reply=reply,
                tool_calls=[record.stored() for record in records],
            )
            if request.idempotency_key is not None and prepared.fingerprint is not None:
                idempotency.store_answer(
                    session,
                    user_id=request.user_id,
                    key=request.idempotency_key,
                    request_fingerprint=prepared.fingerprint,
                    answer=idempotency.StoredAnswer(status, body),
                )
            session.commit()

    def _abandon(self) -> None:
        request = self.prepared.request
        with session_scope() as session:
            store.abandon_turn(session, user_id=request.user_id, turn=self.prepared.claimed)
            if request.idempotency_key is not None:
                idempotency.release(session, user_id=request.user_id, key=request.idempotency_key)
            session.commit()


def start_turn(prepared: PreparedTurn, model: Model, settings: Settings) -> TurnRun:
    """Start running a prepared turn (call from within the event loop)."""
    return TurnRun(prepared, model, settings)
