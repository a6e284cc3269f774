"""`Idempotency-Key` for chat requests: a retried request gets the first answer, tools run once.

The first request with a key inserts a "running" row (the unique (user_id, key) constraint
decides, across replicas, who runs). Its answer — a success, or a failure after tools changed
data — is stored in the same transaction as the turn's messages. A failure that changed nothing
deletes the row, so a retry runs cleanly.

A running row carries a lease (`expires_at`) that the turn renews while it runs. Past it, the
process died. If the dead turn had started a tool, its journal (backend/chat/journal.py) left an
"interrupted" answer in the row: the retry gets that answer and no tool runs twice. If it had
not, nothing changed and the retry takes the row over and runs. Stored answers are kept for
`RETENTION_SECONDS`, and go with their conversation when it is deleted.

The row also keeps a fingerprint of the request: the same key with a different message is a
client bug and gets 422 rather than someone else's answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.db import UNSYNCED
from backend.models import IdempotentRequest, utcnow

RUNNING = "running"
DONE = "done"
RETENTION_SECONDS = 24 * 3600  # how long a stored answer is replayed
# Marks a replayed answer (Stripe's header name): it is final for its key, a failure too, so a
# client that retries 5xx answers stops retrying this key and reads the conversation instead.
REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]


class KeyStillRunningError(RuntimeError):
    """The first request with this key has not finished yet."""

    def __init__(self, message: str, lease_left: timedelta | None) -> None:
        super().__init__(message)
        self.lease_left = lease_left  # until its turn counts as dead, unless it is renewed


class KeyReusedError(ValueError):
    """The key was first used with a different request."""


def fingerprint(message: str, conversation_id: int | None) -> str:
    payload = json.dumps({"message": message, "conversation_id": conversation_id})
    return hashlib.sha256(payload.encode()).hexdigest()


def begin(
    *,
    session: Session,
    user_id: str,
    key: str,
    request_fingerprint: str,
    lease_seconds: float,
) -> StoredAnswer | None:
    """None: the caller runs the request. A StoredAnswer: the caller replays it.

    Raises KeyStillRunningError or KeyReusedError. Every step is one statement that stands on
    its own (the INSERT decides who runs, the UPDATEs are guarded by what they read), so the
    chat turn runs this in autocommit, without BEGIN and COMMIT.
    """
    now = utcnow()
    _forget_expired(session, user_id, now)
    session.add(
        IdempotentRequest(
            user_id=user_id,
            key=key,
            status=RUNNING,
            response={"fingerprint": request_fingerprint},
            expires_at=now + timedelta(seconds=lease_seconds),
        )
    )
    try:
        session.commit()
        return None
    except IntegrityError:
        session.rollback()
    row = session.exec(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == user_id, IdempotentRequest.key == key
        )
    ).first()
    if row is None:  # the first request failed cleanly and let the key go just now
        return begin(
            session=session,
            user_id=user_id,
            key=key,
            request_fingerprint=request_fingerprint,
            lease_seconds=lease_seconds,
        )
    stored = row.response or {}
    if stored.get("fingerprint") != request_fingerprint:
        raise KeyReusedError("This Idempotency-Key was already used for a different request")
    if row.status == DONE:
        return StoredAnswer(status=int(stored["status"]), body=stored["body"])
    lease_end = row.expires_at or row.created_at + timedelta(seconds=lease_seconds)
    if lease_end > now:
        raise KeyStillRunningError(
            "A request with this Idempotency-Key is still running", (lease_end - now)
        )
    # The turn that held the key died.
    if "status" in stored:  # it had started a tool: its interrupted answer is the answer
        session.exec(
            update(IdempotentRequest)
            .where(col(IdempotentRequest.id) == row.id, col(IdempotentRequest.status) == RUNNING)
            .values(status=DONE, expires_at=now + timedelta(seconds=RETENTION_SECONDS))
        )
        session.commit()
        return StoredAnswer(status=int(stored["status"]), body=stored["body"])
    taken = session.exec(  # nothing had changed: run it afresh, unless another retry got here
        update(IdempotentRequest)
        .where(
            col(IdempotentRequest.id) == row.id,
            col(IdempotentRequest.status) == RUNNING,
            col(IdempotentRequest.expires_at) == row.expires_at,
        )
        .values(expires_at=now + timedelta(seconds=lease_seconds))
    )
    session.commit()
    if taken.rowcount == 1:
        return None
    raise KeyStillRunningError("A request with this Idempotency-Key is still running", None)


def _forget_expired(session: Session, user_id: str, now: datetime) -> None:
    session.exec(
        delete(IdempotentRequest).where(
            col(IdempotentRequest.user_id) == user_id,
            col(IdempotentRequest.status) == DONE,
            col(IdempotentRequest.expires_at) < now,
        )
    )


def renew(*, session: Session, user_id: str, key: str, lease_seconds: float) -> None:
    """Extend the lease of a running request (the caller commits, with the turn's claim)."""
    session.exec(
        update(IdempotentRequest)
        .where(
            col(IdempotentRequest.user_id) == user_id,
            col(IdempotentRequest.key) == key,
            col(IdempotentRequest.status) == RUNNING,
        )
        .values(expires_at=utcnow() + timedelta(seconds=lease_seconds)),
        execution_options=UNSYNCED,
    )


def has_stored_answer(*, session: Session, user_id: str, key: str) -> bool:
    """Is there a finished answer for this key? (Its replay costs no model call and no tool.)"""
    found = session.exec(
        select(IdempotentRequest.id).where(
            IdempotentRequest.user_id == user_id,
            IdempotentRequest.key == key,
            IdempotentRequest.status == DONE,
        )
    ).first()
    return found is not None


def store_answer(
    *,
    session: Session,
    user_id: str,
    key: str,
    request_fingerprint: str,
    answer: StoredAnswer,
    conversation_id: int | None = None,
    final: bool = True,
) -> None:
    """Record the answer (the caller commits, together with the turn's messages).

    `final=False` keeps the request running and leaves the answer for a retry to find if the
    turn dies (the journal's "interrupted" answer).
    """
    values: dict[str, Any] = {
        "response": {
            "fingerprint": request_fingerprint,
            "status": answer.status,
            "body": answer.body,
        },
        "conversation_id": conversation_id,
    }
    if final:
        values["status"] = DONE
        values["expires_at"] = utcnow() + timedelta(seconds=RETENTION_SECONDS)
    session.exec(
        update(IdempotentRequest)
        .where(col(IdempotentRequest.user_id) == user_id, col(IdempotentRequest.key) == key)
        .values(**values),
        execution_options=UNSYNCED,
    )


def release(*, session: Session, user_id: str, key: str) -> None:
    """Let the key go after a failure that changed nothing (the caller commits)."""
    session.exec(
        delete(IdempotentRequest).where(
            col(IdempotentRequest.user_id) == user_id,
            col(IdempotentRequest.key) == key,
            col(IdempotentRequest.status) == RUNNING,
        )
    )
