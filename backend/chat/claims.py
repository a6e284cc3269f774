"""The turn-claim protocol: one turn at a time per conversation, even across API replicas.

A turn claims its conversation with a single conditional UPDATE (`claim_turn`), so two turns in
the same conversation never interleave. The claim expires, so a crashed process cannot lock a
conversation forever. The turn ends by `record_turn` (store it, release the claim) or
`abandon_turn` (undo a turn that changed nothing); both leave the commit to the caller, so that
the idempotent answer can join the same transaction.

`claim_turn` needs no transaction: the claim is one statement, and the history read after it
sees what a transaction would under READ COMMITTED. The chat turn runs it in autocommit
(`session_scope(autocommit=True)`), which spares the BEGIN and COMMIT round trips.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, insert, null, update
from sqlmodel import Session, col, select

from backend.chat.history import StoredMessage
from backend.chat.store import raise_taken_or_missing, title_from, unclaimed
from backend.db import UNSYNCED
from backend.models import Conversation, Message, UTCDateTime, utcnow


@dataclass(frozen=True)
class ClaimedTurn:
    """A conversation claimed for one turn, with the history to send to the model."""

    conversation_id: int
    claim: str
    created: bool  # the conversation was created for this turn (removed again if it fails cleanly)
    history: list[StoredMessage]
    started_at: datetime


def _claim_values(claim: Any, expires_at: Any) -> dict[str, Any]:
    # `updated_at` has an ON UPDATE default; claiming or releasing is not activity, so keep it.
    return {
        "turn_claim": claim,
        "turn_claim_expires_at": expires_at,
        "updated_at": Conversation.updated_at,
    }


# The UPDATEs every turn sends, built once with bound parameters: building a statement and
# computing its cache key (to find its compiled form) cost about as much CPU as running it.
# (A parameter of an UPDATE may not be named after a column.)
_CLAIM = (
    update(Conversation)
    .where(
        col(Conversation.id) == bindparam("conversation"),
        col(Conversation.user_id) == bindparam("owner"),
        unclaimed(bindparam("now", type_=UTCDateTime)),
    )
    .values(**_claim_values(bindparam("claim"), bindparam("expires_at")))
)
_FINAL_REPLY = (
    update(Message)
    .where(
        col(Message.id) == bindparam("reply_id"),
        col(Message.conversation_id) == bindparam("conversation"),
        col(Message.user_id) == bindparam("owner"),
    )
    .values(content=bindparam("reply"), tool_calls=bindparam("calls"), created_at=bindparam("now"))
)
_OURS = col(Conversation.turn_claim) == bindparam("claim")
_TURN_END = (
    update(Conversation)
    .where(
        col(Conversation.id) == bindparam("conversation"),
        col(Conversation.user_id) == bindparam("owner"),
    )
    .values(
        updated_at=bindparam("now"),
        # Release only our own claim: if it expired and another turn took over, it stays.
        turn_claim=case((_OURS, null()), else_=col(Conversation.turn_claim)),
        turn_claim_expires_at=case((_OURS, null()), else_=col(Conversation.turn_claim_expires_at)),
    )
)


# Only the columns replay reads, as plain rows: loading whole `Message` entities cost more than
# the query itself once a conversation holds HISTORY_LIMIT messages.
_NEWEST_MESSAGES = (
    select(col(Message.id), col(Message.role), col(Message.content), col(Message.tool_calls))
    .where(col(Message.conversation_id) == bindparam("conversation"))
    .order_by(col(Message.id).desc())
    .limit(bindparam("limit"))
)


def _newest_messages(session: Session, conversation_id: int, limit: int) -> list[StoredMessage]:
    """The newest `limit` messages, oldest first, in one indexed query."""
    newest = session.exec(
        _NEWEST_MESSAGES, params={"conversation": conversation_id, "limit": limit}
    ).all()
    return [StoredMessage(*row) for row in reversed(newest)]


def claim_turn(
    *,
    session: Session,
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
        _CLAIM,
        params={
            "conversation": conversation_id,
            "owner": user_id,
            "now": now,
            "claim": claim,
            "expires_at": expires_at,
        },
        execution_options=UNSYNCED,
    )
    if claimed.rowcount != 1:
        session.rollback()
        raise_taken_or_missing(session, user_id, conversation_id)
    try:
        history = _newest_messages(session, conversation_id, history_limit)
    except Exception:
        _give_back(session, user_id, conversation_id, claim)
        raise
    session.commit()
    return ClaimedTurn(conversation_id, claim, created=False, history=history, started_at=now)


def _give_back(session: Session, user_id: str, conversation_id: int, claim: str) -> None:
    """Release a claim whose turn cannot start. In a transaction the rollback alone undoes it;
    in autocommit the claim is already committed and must be released."""
    session.rollback()
    with contextlib.suppress(Exception):  # the database is down: the claim lapses with its lease
        _release(session, user_id, conversation_id, claim)
        session.commit()


def _release(session: Session, user_id: str, conversation_id: int, claim: str) -> None:
    # Only our own claim: if it expired and another turn took over, that turn keeps it.
    session.exec(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.user_id) == user_id,
            col(Conversation.turn_claim) == claim,
        )
        .values(**_claim_values(None, None)),
        execution_options=UNSYNCED,
    )


def insert_turn_messages(
    *,
    session: Session,
    user_id: str,
    conversation_id: int,
    user_message: str,
    asked_at: datetime,
    reply: str,
    tool_calls: list[dict[str, Any]],
    replied_at: datetime,
) -> tuple[int, int]:
    """Add a turn's user message and reply to `session` in one INSERT; return their ids.

    The caller commits."""
    rows = [
        {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "role": "user",
            "content": user_message,
            "tool_calls": [],
            "created_at": asked_at,
        },
        {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "role": "assistant",
            "content": reply,
            "tool_calls": tool_calls,
            "created_at": replied_at,
        },
    ]
    # A Core INSERT on the session's connection (the ORM's unit of work costs more CPU than the
    # statement): both rows in one INSERT ... RETURNING, inserted and returned in the order
    # given, so the user's message gets the lower id (history order).
    inserted = session.connection().execute(
        insert(Message).returning(col(Message.id), sort_by_parameter_order=True), rows
    )
    asked_id, answered_id = inserted.scalars().all()
    assert asked_id is not None and answered_id is not None
    return asked_id, answered_id


def record_turn(
    *,
    session: Session,
    user_id: str,
    turn: ClaimedTurn,
    user_message: str,
    reply: str,
    tool_calls: list[dict[str, Any]],
    journaled: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """Add a finished (or partly finished) turn to `session`, bump activity, release the claim;
    return the ids of the stored user message and reply.

    `journaled`: the (user message, reply) ids the turn's journal wrote; the user message is
    kept as it is and the reply is given its final content, in place.

    The caller commits, so that storing the idempotent answer can join the same transaction.
    """
    now = utcnow()
    if journaled is None:
        ids = insert_turn_messages(
            session=session,
            user_id=user_id,
            conversation_id=turn.conversation_id,
            user_message=user_message,
            asked_at=turn.started_at,
            reply=reply,
            tool_calls=tool_calls,
            replied_at=now,
        )
    else:
        ids = journaled
        session.exec(
            _FINAL_REPLY,
            params={
                "reply_id": journaled[1],
                "conversation": turn.conversation_id,
                "owner": user_id,
                "reply": reply,
                "calls": tool_calls,
                "now": now,
            },
            execution_options=UNSYNCED,
        )
    session.exec(
        _TURN_END,
        params={
            "conversation": turn.conversation_id,
            "owner": user_id,
            "now": now,
            "claim": turn.claim,
        },
        execution_options=UNSYNCED,
    )
    return ids


def abandon_turn(*, session: Session, user_id: str, turn: ClaimedTurn) -> None:
    """Undo a turn that changed nothing: release the claim, drop a conversation made for it."""
    if turn.created:
        session.exec(
            delete(Conversation).where(
                col(Conversation.id) == turn.conversation_id,
                col(Conversation.user_id) == user_id,
                col(Conversation.turn_claim) == turn.claim,
            ),
            execution_options=UNSYNCED,
        )
    else:
        _release(session, user_id, turn.conversation_id, turn.claim)
