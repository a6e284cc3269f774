"""One chat turn in metrics and traces: its outcome, how long it ran, how many run at once.

Outcomes (`todo_agent_chat_turns_total{outcome}`):
    ok           the reply was stored and returned
    rejected     refused before it ran: 404 conversation, 409 turn already running, 422 reused key
    model_error  the model provider failed or answered something unusable (503)
    tool_error   the MCP task server was unavailable or refused the credentials (503/401)
    timeout      the turn outlived its claim (TURN_CLAIM_SECONDS)
    store_error  the turn ran but could not be stored (database down)
    error        anything else (a 500: a bug)

The turn's span ("chat turn") is the parent of its agent steps, model calls and tool calls.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextvars import ContextVar

import openai
from agents import MaxTurnsExceeded, ModelBehaviorError, UserError
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from backend.chat.idempotency import KeyReusedError, KeyStillRunningError
from backend.chat.mcp_client import TaskServerError
from backend.chat.store import ConversationNotFoundError, TurnInProgressError
from backend.observability import tracing
from backend.observability.metrics import (
    TURN_DURATION,
    TURNS,
    TURNS_IN_FLIGHT,
    metrics_enabled,
)

MODEL_ERRORS = (openai.OpenAIError, ModelBehaviorError, json.JSONDecodeError, MaxTurnsExceeded)
# What `prepare_turn` refuses a turn with (404, 409, 422): the caller's doing, not a failure.
REJECTIONS = (ConversationNotFoundError, TurnInProgressError, KeyStillRunningError, KeyReusedError)


def failure_outcome(error: BaseException) -> str:
    if isinstance(error, TaskServerError | UserError | BaseExceptionGroup):
        return "tool_error"  # UserError / ExceptionGroup: the MCP connection broke mid-turn
    if isinstance(error, MODEL_ERRORS):
        return "model_error"
    if isinstance(error, TimeoutError):
        return "timeout"
    return "error"


def count_rejected_turn(error: BaseException) -> None:
    """Count a turn refused before it ran (other errors there, a database outage, are no turn)."""
    if metrics_enabled() and isinstance(error, REJECTIONS):
        TURNS.labels("rejected").inc()


class TurnObservation:
    def __init__(self, conversation_id: int) -> None:
        self.outcome = "error"  # until the turn says how it ended
        self.started = time.perf_counter()
        self.span: trace.Span | None = None
        if tracing.tracing_enabled():
            self.span = tracing.tracer().start_span(
                "chat turn", attributes={"gen_ai.conversation.id": str(conversation_id)}
            )

    def failed(self, error: BaseException) -> None:
        self.outcome = failure_outcome(error)

    def end(self) -> None:
        if metrics_enabled():
            TURNS.labels(self.outcome).inc()
            TURN_DURATION.observe(time.perf_counter() - self.started)
        if self.span is not None:
            self.span.set_attribute("todo_agent.turn.outcome", self.outcome)
            if self.outcome != "ok":
                self.span.set_attribute("error.type", self.outcome)
                self.span.set_status(Status(StatusCode.ERROR))
            self.span.end()


_current: ContextVar[TurnObservation | None] = ContextVar("turn_observation", default=None)


@contextlib.contextmanager
def observed_turn(conversation_id: int) -> Iterator[TurnObservation]:
    """Count and trace the turn run inside the block (set `outcome` / call `failed` in it)."""
    observation = TurnObservation(conversation_id)
    token = _current.set(observation)
    if metrics_enabled():
        TURNS_IN_FLIGHT.inc()
    try:
        if observation.span is None:
            yield observation
        else:
            with trace.use_span(observation.span, end_on_exit=False):
                yield observation
    finally:
        if metrics_enabled():
            TURNS_IN_FLIGHT.dec()
        observation.end()
        _current.reset(token)


def note_turn_failure(error: BaseException) -> None:
    """Why the turn running in this task failed (called where the turn catches the error)."""
    observation = _current.get()
    if observation is not None:
        observation.failed(error)
