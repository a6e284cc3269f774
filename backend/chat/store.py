"""The conversation store: every read and write of conversations and messages goes through here.

The turn-claim protocol (claim, record, abandon) is in `backend.chat.claims`; the rules both
share (ownership, "no live claim", their errors) are here.

The service convention, here and in `backend.tasks`, `claims` and `idempotency`: functions take
`*, session, user_id, ...`, and every query is scoped by `user_id` (another user's conversation
is indistinguishable from a missing one). A function that is a whole operation commits; one that
is a step of a larger transaction (`claims.record_turn`, `claims.insert_turn_messages`,
`claims.abandon_turn`, `idempotency.store_answer`, `idempotency.release`) leaves the commit to its
caller and says so.
The functions are synchronous (SQLModel sessions); the async chat turn calls them on a worker
thread and never holds a session while the model runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_
from sqlmodel import Session, col, select

from backend.models import Conversation, Message, utcnow

TITLE_LENGTH = 60


class ConversationNotFoundError(LookupError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"Conversation {conversation_id} not found")
        self.conversation_id = conversation_id


class TurnInProgressError(RuntimeError):
    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("A reply is still being written in this conversation; try again shortly")
        # Seconds until the running turn's claim lapses unless that turn renews it (its lease,
        # backend/chat/lease.py): the truthful Retry-After.
        self.retry_after = retry_after


@dataclass(frozen=True)
class ConversationSummary:
    conversation: Conversation
    message_count: int


def title_from(message: str) -> str:
    """A conversation's title: its first message on one line, cut at a word near 60 characters."""
    text = " ".join(message.split())
    if len(text) <= TITLE_LENGTH:
        return text
    cut = text[: TITLE_LENGTH - 1]
    if " " in cut[TITLE_LENGTH // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def unclaimed(now: datetime | ColumnElement[datetime]) -> Any:
    """SQL condition: no turn holds a live claim on the conversation."""
    return or_(
        col(Conversation.turn_claim).is_(None), col(Conversation.turn_claim_expires_at) < now
    )


def require_owned(session: Session, user_id: str, conversation_id: int) -> None:
    """Another user's conversation is "not found", exactly like one that does not exist."""
    owned = session.exec(
        select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    ).first()
    if owned is None:
        raise ConversationNotFoundError(conversation_id)


def raise_taken_or_missing(session: Session, user_id: str, conversation_id: int) -> None:
    expires_at = session.exec(
        select(Conversation.turn_claim_expires_at).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    ).first()
    if expires_at is None:
        require_owned(session, user_id, conversation_id)  # raises when missing
        raise TurnInProgressError  # released a moment ago: try again at once
    raise TurnInProgressError(max(1, math.ceil((expires_at - utcnow()).total_seconds())))


def list_conversations(
    *, session: Session, user_id: str, page: int, per_page: int
) -> tuple[list[ConversationSummary], int]:
    """One page of the user's conversations, newest activity first, and the total count."""
    message_count = (
        select(func.count(col(Message.id)))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    total = session.exec(
        select(func.count(col(Conversation.id))).where(Conversation.user_id == user_id)
    ).one()
    rows = session.exec(
        select(Conversation, message_count)
        .where(Conversation.user_id == user_id)
        .order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return [ConversationSummary(row[0], int(row[1])) for row in rows], int(total)


def read_messages(
    *,
    session: Session,
    user_id: str,
    conversation_id: int,
    limit: int | None = None,
    before: int | None = None,
) -> list[Message]:
    """Messages of one of the user's conversations, oldest first: the newest `limit` of those
    with an id below `before` (all of them when both are None)."""
    require_owned(session, user_id, conversation_id)
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before is not None:
        query = query.where(col(Message.id) < before)
    if limit is None:
        return list(session.exec(query.order_by(col(Message.id))).all())
    newest = session.exec(query.order_by(col(Message.id).desc()).limit(limit)).all()
    return list(reversed(newest))


def delete_conversation(*, session: Session, user_id: str, conversation_id: int) -> None:
    """Delete a conversation and (ON DELETE CASCADE) its messages; not while a turn runs."""
    deleted = session.exec(
        delete(Conversation).where(
            col(Conversation.id) == conversation_id,
            col(Conversation.user_id) == user_id,
            unclaimed(utcnow()),
        )
    )
    if deleted.rowcount != 1:
        session.rollback()
        raise_taken_or_missing(session, user_id, conversation_id)
    session.commit()
