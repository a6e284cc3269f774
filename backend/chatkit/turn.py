"""The one adapter between ChatKit and the chat turn that `/chat` runs (`backend.chat.turn`).

Everything else in this package sees only `run_chat_turn` and the three event types below, so
when the turn's entry points move, this file is the only one to change.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from backend.chat.agent import chat_model
from backend.chat.turn import (
    PreparedTurn,
    TextDelta,
    ToolCalled,
    TurnDone,
    TurnFailed,
    TurnRejectedError,
    TurnRequest,
    prepare_turn,
    start_turn,
)
from backend.config import Settings

log = logging.getLogger(__name__)


class TurnRefusedError(Exception):
    """The turn did not run, or failed: the status and plain reason `/chat` would answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


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


ChatTurnEvent = ReplyDelta | ToolCallDone | ReplyDone


async def run_chat_turn(
    *, app: Any, settings: Settings, user_id: str, token: str, message: str, conversation_id: int
) -> AsyncIterator[ChatTurnEvent]:
    """One stateless turn in an existing conversation, exactly as `/chat` runs it.

    The same claim, history and MCP tools called with the caller's own token; raises
    TurnRefusedError with the status `/chat` would answer (404, 409, 503, ...).
    """
    try:
        model = chat_model(app)
    except Exception:
        log.exception("the chat model could not be created")
        raise TurnRefusedError(
            503, "The model is not available; check the MODEL settings"
        ) from None
    request = TurnRequest(
        user_id=user_id, token=token, message=message, conversation_id=conversation_id
    )
    try:
        prepared = await prepare_turn(request, settings)
    except TurnRejectedError as exc:
        raise TurnRefusedError(exc.status, exc.detail) from None
    if not isinstance(prepared, PreparedTurn):  # a stored answer: only with an Idempotency-Key
        raise TurnRefusedError(500, "Internal server error")
    async for event in start_turn(prepared, model, settings).events():
        if isinstance(event, TextDelta):
            yield ReplyDelta(event.text)
        elif isinstance(event, ToolCalled):
            public = event.call.public()
            yield ToolCallDone(public["tool"], public["parameters"], public["result"])
        elif isinstance(event, TurnDone):
            yield ReplyDone(event.response)
        elif isinstance(event, TurnFailed):
            raise TurnRefusedError(event.status, event.detail)
