"""Stopping a running turn from anywhere: a flag on the conversation row, checked by the turn.

A turn runs on the API process that took its request, but the request to stop it may land on any
replica (`POST /api/{user_id}/conversations/{id}/cancel`). So the stop request writes the claim it
wants stopped into `conversation.turn_cancel_claim` (one conditional UPDATE, scoped to the user
and to a live claim), and every running turn polls that column for its own claim every
`TURN_CANCEL_POLL_SECONDS` (one primary-key read). No process keeps state another one needs.

On the process that runs the turn a stop also takes effect at once, without the poll: the
WebSocket channel holds its `TurnRun`, and the HTTP route finds it in this process's table of
running turns (`backend.chat.running`, one per app).

The flag names one claim, a fresh random value per turn, so a stale flag never stops a later turn;
it is overwritten by the next stop request and needs no clean-up.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.chat.store import require_owned
from backend.models import Conversation, utcnow


class NoTurnRunningError(Exception):
    """There is nothing to stop: no turn is running in the conversation."""

    def __init__(self) -> None:
        super().__init__("No reply is being written in this conversation")


def request_cancel(*, session: Session, user_id: str, conversation_id: int) -> str:
    """Flag the conversation's running turn to stop; returns the claim flagged.

    Raises ConversationNotFoundError (missing or someone else's) or NoTurnRunningError.
    """
    now = utcnow()
    live = (
        col(Conversation.id) == conversation_id,
        col(Conversation.user_id) == user_id,
        col(Conversation.turn_claim).is_not(None),
        col(Conversation.turn_claim_expires_at) >= now,
    )
    flagged = session.exec(
        update(Conversation)
        .where(*live)
        .values(
            turn_cancel_claim=Conversation.turn_claim,
            # Asking to stop is not activity: keep `updated_at` (it has an ON UPDATE default).
            updated_at=Conversation.updated_at,
        )
    )
    if flagged.rowcount != 1:
        session.rollback()
        require_owned(session, user_id, conversation_id)  # ConversationNotFoundError
        raise NoTurnRunningError
    claim = session.exec(select(Conversation.turn_claim).where(*live)).first()
    session.commit()
    return claim or ""


def cancel_requested(*, session: Session, user_id: str, conversation_id: int, claim: str) -> bool:
    """Has someone asked to stop the turn holding `claim`?"""
    flagged = session.exec(
        select(Conversation.id).where(
            col(Conversation.id) == conversation_id,
            col(Conversation.user_id) == user_id,
            col(Conversation.turn_cancel_claim) == claim,
        )
    ).first()
    return flagged is not None


def claim_released(*, session: Session, user_id: str, conversation_id: int, claim: str) -> bool:
    """Has the turn holding `claim` ended (stored, or its claim taken over)?"""
    holder = session.exec(
        select(Conversation.turn_claim).where(
            col(Conversation.id) == conversation_id, col(Conversation.user_id) == user_id
        )
    ).first()
    return holder != claim
