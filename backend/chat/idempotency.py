"""`Idempotency-Key` for chat requests: a retried request gets the first answer, tools run once.

The first request with a key inserts a "running" row (the unique (user_id, key) constraint
decides, across replicas, who runs). Its answer — a success, or a failure after tools changed
data — is stored in the same transaction as the turn's messages. A failure that changed nothing
deletes the row, so a retry runs cleanly. A row still "running" after `stale_after` seconds
belongs to a crashed process and is taken over.

The row also keeps a fingerprint of the request: the same key with a different message is a
client bug and gets 422 rather than someone else's answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.models import IdempotentRequest, utcnow

RUNNING = "running"
DONE = "done"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]


class KeyStillRunningError(RuntimeError):
    """The first request with this key has not finished yet."""


class KeyReusedError(ValueError):
    """The key was first used with a different request."""


def fingerprint(message: str, conversation_id: int | None) -> str:
    payload = json.dumps({"message": message, "conversation_id": conversation_id})
    return hashlib.sha256(payload.encode()).hexdigest()


def begin(
    *, session: Session, user_id: str, key: str, request_fingerprint: str, stale_after: float
) -> StoredAnswer | None:
    """None: the caller runs the request. A StoredAnswer: the caller replays it.

    Raises KeyStillRunningError or KeyReusedError.
    """
    session.add(
        IdempotentRequest(
            user_id=user_id,
            key=key,
            status=RUNNING,
            response={"fingerprint": request_fingerprint},
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
            stale_after=stale_after,
        )
    stored = row.response or {}
    if stored.get("fingerprint") != request_fingerprint:
        raise KeyReusedError("This Idempotency-Key was already used for a different request")
    if row.status == DONE:
        return StoredAnswer(status=int(stored["status"]), body=stored["body"])
    now = utcnow()
    if row.created_at < now - timedelta(seconds=stale_after):
        taken = session.exec(
            update(IdempotentRequest)
            .where(
                col(IdempotentRequest.id) == row.id,
                col(IdempotentRequest.status) == RUNNING,
                col(IdempotentRequest.created_at) == row.created_at,
            )
            .values(created_at=now)
        )
        session.commit()
        if taken.rowcount == 1:
            return None
    raise KeyStillRunningError("A request with this Idempotency-Key is still running")


def store_answer(
    *,
    session: Session,
    user_id: str,
    key: str,
    request_fingerprint: str,
    answer: StoredAnswer,
) -> None:
    """Record the answer (the caller commits, together with the turn's messages)."""
    session.exec(
        update(IdempotentRequest)
        .where(col(IdempotentRequest.user_id) == user_id, col(IdempotentRequest.key) == key)
        .values(
            status=DONE,
            response={
                "fingerprint": request_fingerprint,
                "status": answer.status,
                "body": answer.body,
            },
        )
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
