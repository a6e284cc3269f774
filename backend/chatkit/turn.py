"""The one adapter between ChatKit and the chat turn that `/chat` runs (`backend.chat.turn`).

Everything else in this package sees only `start_turn`, `turn_events` and the event types
below, so when the turn's entry points move, this file is the only one to change.

`start_turn` begins the turn before ChatKit's stream starts: what keeps a turn from running
(no such conversation, a turn already running there, an Idempotency-Key reused or still
running) is raised as the same domain error `/chat` raises, and answered as plain HTTP from
the one table in `backend.errors`. Once running, a failure is a `TurnRefusedError` carrying
the same `Problem` `/chat` would answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agents import Model
from fastapi import HTTPException

from backend.chat.idempotency import StoredAnswer
from backend.chat.mcp_client import TaskServerClient
from backend.chat.turn import (
    TextDelta,
    ToolCalled,
    TurnDone,
    TurnFailed,
    TurnRequest,
    TurnRun,
    begin_turn,
)
from backend.config import Settings
from backend.errors import Problem

StartedTurn = TurnRun | StoredAnswer


@dataclass(frozen=True)
class TurnServices:
    """What a turn runs with: the app's model, settings and MCP client (`backend.deps`)."""

    model: Model
    settings: Settings
    task_servers: TaskServerClient


class TurnRefusedError(Exception):
    """The turn failed: what `/chat` would answer (`problem.status`, `problem.detail`).

    `message_ids`: the turn was stored anyway (tools had run), as (user message, note).
    """

    def __init__(self, problem: Problem, message_ids: tuple[int, int] | None = None) -> None:
        super().__init__(problem.detail)
        self.problem = problem
        self.message_ids = message_ids


@dataclass(frozen=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDone:
    tool: str
    parameters: dict[str, Any]
    result: Any


@dataclass(frozen=True)
class ReplyDone:
    text: str
    # The stored (user message, reply) ids, when known: the streamed items get their ids.
    message_ids: tuple[int, int] | None = None


ChatTurnEvent = ReplyDelta | ToolCallDone | ReplyDone


async def start_turn(
    services: TurnServices,
    *,
    user_id: str,
    token: str,
    message: str,
    conversation_id: int | None,
    idempotency_key: str | None = None,
) -> StartedTurn:
    """Begin one stateless turn exactly as `/chat` does (claim, history, MCP tools with the
    caller's own token); `conversation_id=None` creates the conversation.

    Raises the domain errors of `begin_turn`; a stored failure of an idempotent retry is
    answered as it was the first time (HTTPException), as `/chat` does.
    """
    request = TurnRequest(
        user_id=user_id,
        token=token,
        message=message,
        conversation_id=conversation_id,
        idempotency_key=idempotency_key,
    )
    turn = await begin_turn(
        request,
        model=services.model,
        settings=services.settings,
        task_servers=services.task_servers,
    )
    if isinstance(turn, StoredAnswer) and turn.status != 200:
        raise HTTPException(turn.status, turn.body.get("detail"))
    return turn


def conversation_of(turn: StartedTurn) -> int:
    if isinstance(turn, StoredAnswer):
        return int(turn.body["conversation_id"])
    return turn.prepared.claimed.conversation_id


def _replayed(answer: StoredAnswer) -> list[ChatTurnEvent]:
    """The stored answer of an idempotent retry, as the events it was first streamed as."""
    events: list[ChatTurnEvent] = [
        ToolCallDone(call["tool"], call["parameters"], call["result"])
        for call in answer.body["tool_calls"]
    ]
    response = str(answer.body["response"])
    return [*events, ReplyDelta(response), ReplyDone(response)]


async def turn_events(turn: StartedTurn) -> AsyncIterator[ChatTurnEvent]:
    """The turn's events, ending with ReplyDone; raises TurnRefusedError if it fails."""
    if isinstance(turn, StoredAnswer):
        for replayed in _replayed(turn):
            yield replayed
        return
    async for event in turn.events():
        if isinstance(event, TextDelta):
            yield ReplyDelta(event.text)
        elif isinstance(event, ToolCalled):
            public = event.call.public()
            yield ToolCallDone(public["tool"], public["parameters"], public["result"])
        elif isinstance(event, TurnDone):
            yield ReplyDone(event.response, event.message_ids)
        elif isinstance(event, TurnFailed):
            raise TurnRefusedError(event.problem, event.message_ids)
