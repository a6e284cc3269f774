"""What each failure means to the caller: one table from domain errors to status and reason.

Domain code raises its own errors (`TaskNotFoundError`, `ConversationNotFoundError`,
`TaskServerUnavailable`, an `openai` error inside a turn, ...) and knows nothing of HTTP. This
table is the one place that says which status, headers and `detail` each one becomes. The HTTP
edge (`backend.api.errors`) answers with it; the chat turn uses it for the failure it streams and
for the answer it stores for an idempotent retry, so both chat routes say the same thing.

A reason is always a plain sentence, never the exception's own text when that may hold URLs,
SQL or keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import openai
from agents import MaxTurnsExceeded, ModelBehaviorError, UserError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from backend.chat.cancel import NoTurnRunningError
from backend.chat.idempotency import KeyReusedError, KeyStillRunningError
from backend.chat.lease import ClaimLostError
from backend.chat.mcp_client import TaskServerAuthError, TaskServerUnavailable
from backend.chat.providers import ModelUnavailableError
from backend.chat.store import ConversationNotFoundError, TurnInProgressError
from backend.dbwork import DatabaseBusyError
from backend.ratelimit import RateLimitExceeded
from backend.tasks import TaskNotFoundError


@dataclass(frozen=True)
class Problem:
    status: int
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)


INTERNAL = Problem(500, "Internal server error")
DATABASE_DOWN = Problem(
    503, "The database is unavailable; try again shortly", headers={"Retry-After": "5"}
)


def _own_text(status: int, **headers: str) -> Callable[[BaseException], Problem]:
    """For errors whose message is written for the caller (it holds no secrets)."""
    return lambda exc: Problem(status, str(exc), headers)


def _fixed(status: int, detail: str) -> Callable[[BaseException], Problem]:
    return lambda _: Problem(status, detail)


def _busy(exc: BaseException) -> Problem:
    """409 with the seconds until the running turn's lease lapses (it is renewed while alive)."""
    seconds = 1
    if isinstance(exc, TurnInProgressError):
        seconds = exc.retry_after
    elif isinstance(exc, KeyStillRunningError) and exc.lease_left is not None:
        seconds = max(1, math.ceil(exc.lease_left.total_seconds()))
    return Problem(409, str(exc), {"Retry-After": str(seconds)})


DATABASE_BUSY = Problem(
    503,
    "The database is busy; try again shortly",
    headers={"Retry-After": str(DatabaseBusyError.retry_after)},
)


def _rate_limited(exc: BaseException) -> Problem:
    seconds = exc.retry_after if isinstance(exc, RateLimitExceeded) else 1
    return Problem(429, str(exc), {"Retry-After": str(seconds)})


# First match wins, so a subclass comes before its base (APITimeoutError < APIConnectionError).
PROBLEMS: list[tuple[tuple[type[BaseException], ...], Callable[[BaseException], Problem]]] = [
    # Requests the caller can fix.
    ((TaskNotFoundError,), _own_text(404)),
    ((ConversationNotFoundError,), _fixed(404, "Conversation not found")),
    ((TurnInProgressError, KeyStillRunningError), _busy),
    ((NoTurnRunningError,), _own_text(409)),
    ((KeyReusedError,), _own_text(422)),
    ((RateLimitExceeded,), _rate_limited),
    ((TaskServerAuthError,), _own_text(401, **{"WWW-Authenticate": "Bearer"})),
    # What the chat depends on: the task server, the model, the database.
    ((TaskServerUnavailable,), _own_text(503)),
    ((ModelUnavailableError,), _fixed(503, "The model is not available; check the MODEL settings")),
    ((TimeoutError, openai.APITimeoutError), _fixed(503, "The model did not answer in time")),
    ((openai.APIConnectionError,), _fixed(503, "The model provider could not be reached")),
    (
        (openai.RateLimitError,),
        _fixed(503, "The model provider is rate limiting requests; try again shortly"),
    ),
    (
        (openai.AuthenticationError, openai.PermissionDeniedError),
        _fixed(503, "The model provider rejected the configured API key"),
    ),
    ((openai.OpenAIError,), _fixed(503, "The model provider returned an error")),
    (
        (MaxTurnsExceeded,),
        _fixed(503, "The assistant needed too many steps; try a simpler request"),
    ),
    (
        (ModelBehaviorError, json.JSONDecodeError),
        _fixed(503, "The model returned an answer the assistant could not use"),
    ),
    # Raised by the MCP client when the task server goes away in the middle of a turn.
    ((UserError, BaseExceptionGroup), _fixed(503, "The task server is unavailable")),
    # Every connection (or database slot) stayed taken: a fast, honest 503, never a 500.
    ((DatabaseBusyError, PoolTimeoutError), lambda _: DATABASE_BUSY),
    ((ClaimLostError,), lambda _: DATABASE_DOWN),
    ((OperationalError,), lambda _: DATABASE_DOWN),
    ((SQLAlchemyError,), lambda _: INTERNAL),
]


def problem_for(exc: BaseException) -> Problem:
    """The caller's view of `exc`: the first matching row of `PROBLEMS`, else a plain 500."""
    for types, problem in PROBLEMS:
        if isinstance(exc, types):
            return problem(exc)
    return INTERNAL
