"""The conversation store: every read and write of conversations and messages goes through here.

Each function is one short transaction on the session it is given (`record_turn` and
`abandon_turn` leave the commit to the caller) and is scoped by `user_id`: another user's
conversation is indistinguishable from a missing one. The functions are synchronous (SQLModel
sessions); the async chat turn calls them on a worker thread and never holds a session while the
model runs.

A turn claims its conversation with a single conditional UPDATE, so two turns in the same
conversation never interleave, even across API replicas. The claim expires, so a crashed
process cannot lock a conversation forever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, null, or_, update
from sqlmodel import Session, col, select

from backend.models import Conversation, Message, utcnow

TITLE_LENGTH = 60


class ConversationNotFoundError(LookupError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"Conversation {conversation_id} not found")
        self.conversation_id = conversation_id


class TurnInProgressError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("A reply is still being written in this conversation; try again shortly")


@dataclass(frozen=True)
class ClaimedTurn:
    """A conversation claimed for one turn, with the history to send to the model."""

    conversation_id: int
    claim: str
    created: bool  # the conversation was created for this turn (removed again if it fails cleanly)
    history: list[Message]
    started_at: datetime


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


def _claim_values(claim: str | None, expires_at: datetime | None) -> dict[str, Any]:
    # `updated_at` has an ON UPDATE default; claiming or releasing is not activity, so keep it.
    return {
        "turn_claim": claim,
        "turn_claim_expires_at": expires_at,
        "updated_at": Conversation.updated_at,
    }


def _newest_messages(session: Session, conversation_id: int, limit: int) -> list[Message]:
    """The newest `limit` messages, oldest first, in one indexed query."""
    newest = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(col(Message.id).desc())
        .limit(limit)
    ).all()
    return list(reversed(newest))


def claim_turn(
    session: Session,
    *,
    user_id: str,
    conversation_id: int | None,
    first_message: str,
    history_limit: int,
    claim_seconds: float,
) -> ClaimedTurn:
    """Claim a conversation for one turn (creating it when `conversation_id` is None).

    Raises ConversationNotFoundError (missing or someone else's) or TurnInProgressError (another
    turn holds an unexpired claim).
    """
    now = utcnow()
    claim = uuid.uuid4().hex
    expires_at = now + timedelta(seconds=claim_seconds)
    if conversation_id is None:
        conversation = Conversation(
            user_id=user_id,
            title=title_from(first_message),
            created_at=now,
            updated_at=now,
            turn_claim=claim,
            turn_claim_expires_at=expires_at,
        )
        session.add(conversation)
        session.commit()
        assert conversation.id is not None
        return ClaimedTurn(conversation.id, claim, created=True, history=[], started_at=now)
    claimed = session.exec(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.user_id) == user_id,
            _claimable(now),
        )
        .values(**_claim_values(claim, expires_at))
    )
    if claimed.rowcount != 1:
        session.rollback()
        _raise_taken_or_missing(session, user_id, conversation_id)
    history = _newest_messages(session, conversation_id, history_limit)
    session.commit()
    return ClaimedTurn(conversation_id, claim, created=False, history=history, started_at=now)


def _claimable(now: datetime) -> Any:
    return or_(
        col(Conversation.turn_claim).is_(None), col(Conversation.turn_claim_expires_at) < now
    )


def _require_owned(session: Session, user_id: str, conversation_id: int) -> None:
    """Another user's conversation is "not found", exactly like one that does not exist."""
    owned = session.exec(
        select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    ).first()
    if owned is None:
        raise ConversationNotFoundError(conversation_id)


def _raise_taken_or_missing(session: Session, user_id: str, conversation_id: int) -> None:
    _require_owned(session, user_id, conversation_id)
    raise TurnInProgressError


def _release(session: Session, user_id: str, conversation_id: int, claim: str) -> None:
    # Only our own claim: if it expired and another turn took over, that turn keeps it.
    session.exec(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.user_id) == user_id,
            col(Conversation.turn_claim) == claim,
        )
        .values(**_claim_values(None, None))
    )


def record_turn(
    session: Session,
    *,
    user_id: str,
    turn: ClaimedTurn,
    user_message: str,
    reply: str,
    tool_calls: list[dict[str, Any]],
) -> None:
    """Add a finished (or partly finished) turn to `session`, bump activity, release the claim.

    The caller commits, so that storing the idempotent answer can join the same transaction.
    """
    now = utcnow()
    session.add(
        Message(
            conversation_id=turn.conversation_id,
            user_id=user_id,
            role="user",
            content=user_message,
            created_at=turn.started_at,
        )
    )
    session.flush()  # the user's message gets the lower id: history is ordered by id
    session.add(
        Message(
            conversation_id=turn.conversation_id,
            user_id=user_id,
            role="assistant",
            content=reply,
            tool_calls=tool_calls,
            created_at=now,
        )
    )
    ours = col(Conversation.turn_claim) == turn.claim
    session.exec(
        update(Conversation)
        .where(col(Conversation.id) == turn.conversation_id, col(Conversation.user_id) == user_id)
        .values(
            updated_at=now,
            # Release only our own claim: if it expired and another turn took over, it stays.
            turn_claim=case((ours, null()), else_=col(Conversation.turn_claim)),
            turn_claim_expires_at=case(
                (ours, null()), else_=col(Conversation.turn_claim_expires_at)
            ),
        )
    )


def abandon_turn(session: Session, *, user_id: str, turn: ClaimedTurn) -> None:
    """Undo a turn that changed nothing: release the claim, drop a conversation made for it."""
    if turn.created:
        session.exec(
            delete(Conversation).where(
                col(Conversation.id) == turn.conversation_id,
                col(Conversation.user_id) == user_id,
                col(Conversation.turn_claim) == turn.claim,
            )
        )
    else:
        _release(session, user_id, turn.conversation_id, turn.claim)


# --- the conversations API ---------------------------------------------------------------


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
    _require_owned(session, user_id, conversation_id)
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
            _claimable(utcnow()),
        )
    )
    if deleted.rowcount != 1:
        session.rollback()
        _raise_taken_or_missing(session, user_id, conversation_id)
    session.commit()
