"""`POST /api/{user_id}/conversations/{id}/cancel`: stop the turn running in a conversation.

For clients of `/chat` and `/chat/stream`, which cannot talk back on their own connection (the
WebSocket channel sends `{"type": "cancel"}` instead). The request may land on any replica: it
flags the turn in the database (`backend.chat.cancel`), stops it at once when it runs in this
process, and then waits (bounded) until the stopped turn has been stored, so that the
conversation takes the next message as soon as this answers `"stopped": true`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backend.chat import cancel
from backend.chat.running import RunningTurns
from backend.config import Settings
from backend.db import session_scope
from backend.deps import CurrentUser, RunningTurnsDep, SettingsDep
from backend.schemas import CancelResult

router = APIRouter(prefix="/api/{user_id}/conversations", tags=["conversations"])

ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EXTRA_WAIT_SECONDS = 5.0  # beyond two polls: storing the stopped turn


def _flag(user_id: str, conversation_id: int) -> str:
    with session_scope() as session:
        return cancel.request_cancel(
            session=session, user_id=user_id, conversation_id=conversation_id
        )


def _released(user_id: str, conversation_id: int, claim: str) -> bool:
    with session_scope() as session:
        return cancel.claim_released(
            session=session, user_id=user_id, conversation_id=conversation_id, claim=claim
        )


async def _wait_until_stored(
    user_id: str, conversation_id: int, claim: str, settings: Settings, running: RunningTurns
) -> bool:
    local = running.find(user_id, conversation_id, claim)
    if local is not None:
        local.cancel()  # running here: no need to wait for its poll
        try:
            async with asyncio.timeout(EXTRA_WAIT_SECONDS):
                await local.finished()
            return True
        except TimeoutError:
            return False
    # Running on another replica: it sees the flag at its next poll, then stores and releases.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2 * settings.turn_cancel_poll_seconds + EXTRA_WAIT_SECONDS
    while not await run_in_threadpool(_released, user_id, conversation_id, claim):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@router.post(
    "/{conversation_id}/cancel",
    response_model=CancelResult,
    responses={
        202: {"model": CancelResult, "description": "Asked to stop; the turn is still ending"},
        409: {"description": "No turn is running in this conversation"},
    },
)
async def cancel_turn(
    user_id: CurrentUser,
    conversation_id: ConversationId,
    settings: SettingsDep,
    running: RunningTurnsDep,
) -> Any:
    """Stop the reply being written in the conversation; what ran before is stored."""
    claim = await run_in_threadpool(_flag, user_id, conversation_id)
    stopped = await _wait_until_stored(user_id, conversation_id, claim, settings, running)
    body = CancelResult(conversation_id=conversation_id, stopped=stopped)
    return JSONResponse(body.model_dump(), status_code=200 if stopped else 202)
