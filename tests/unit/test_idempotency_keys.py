"""`Idempotency-Key` rows directly: who runs, what is replayed, reuse, release, stale takeover."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.chat import idempotency
from backend.chat.idempotency import KeyReusedError, KeyStillRunningError, StoredAnswer
from backend.models import IdempotentRequest, utcnow

STALE_AFTER = 600.0
FINGERPRINT = idempotency.fingerprint("add buy milk", None)
ANSWER = StoredAnswer(status=200, body={"conversation_id": 1, "response": "Added it."})


def begin(
    session: Session, key: str = "key-1", user_id: str = "alice", fingerprint: str = FINGERPRINT
) -> StoredAnswer | None:
    return idempotency.begin(
        session=session,
        user_id=user_id,
        key=key,
        request_fingerprint=fingerprint,
        stale_after=STALE_AFTER,
    )


def rows(session: Session) -> list[tuple[str, str, str]]:
    session.expire_all()
    found = session.exec(select(IdempotentRequest).order_by(col(IdempotentRequest.id))).all()
    return [(row.user_id, row.key, row.status) for row in found]


def answer(session: Session) -> None:
    """The first request finished: its answer is stored (committed, as the turn does)."""
    idempotency.store_answer(
        session=session,
        user_id="alice",
        key="key-1",
        request_fingerprint=FINGERPRINT,
        answer=ANSWER,
    )
    session.commit()


def age(session: Session, seconds: float) -> None:
    """What a crashed first request leaves behind: a "running" row older than `seconds`."""
    session.exec(update(IdempotentRequest).values(created_at=utcnow() - timedelta(seconds=seconds)))
    session.commit()


def test_the_first_request_runs_and_holds_the_key(session: Session) -> None:
    assert begin(session) is None
    assert rows(session) == [("alice", "key-1", idempotency.RUNNING)]
    with pytest.raises(KeyStillRunningError):
        begin(session)


def test_a_stored_answer_is_replayed(session: Session) -> None:
    assert begin(session) is None
    answer(session)
    assert rows(session) == [("alice", "key-1", idempotency.DONE)]
    assert begin(session) == ANSWER
    assert begin(session) == ANSWER  # as often as the client retries


def test_the_same_key_for_another_request_is_refused(session: Session) -> None:
    other = idempotency.fingerprint("add buy milk", 7)
    assert other != FINGERPRINT  # the conversation is part of the request
    assert begin(session) is None
    with pytest.raises(KeyReusedError):
        begin(session, fingerprint=other)
    answer(session)
    with pytest.raises(KeyReusedError):
        begin(session, fingerprint=other)


def test_keys_belong_to_their_user(session: Session) -> None:
    assert begin(session) is None
    assert begin(session, user_id="bob") is None
    assert rows(session) == [
        ("alice", "key-1", idempotency.RUNNING),
        ("bob", "key-1", idempotency.RUNNING),
    ]


def test_a_released_key_runs_again_but_an_answered_one_is_kept(session: Session) -> None:
    assert begin(session) is None
    idempotency.release(session=session, user_id="alice", key="key-1")
    session.commit()
    assert rows(session) == []
    assert begin(session) is None

    answer(session)
    idempotency.release(session=session, user_id="alice", key="key-1")
    session.commit()
    assert begin(session) == ANSWER


def test_a_stale_running_key_is_taken_over_once(session: Session) -> None:
    assert begin(session) is None
    age(session, STALE_AFTER + 60)
    assert begin(session) is None  # the crashed request's key is taken over
    # The takeover renewed the row, so the next retry waits for it rather than running too.
    with pytest.raises(KeyStillRunningError):
        begin(session)
    assert rows(session) == [("alice", "key-1", idempotency.RUNNING)]


def test_a_running_key_younger_than_stale_after_is_not_taken_over(session: Session) -> None:
    assert begin(session) is None
    age(session, STALE_AFTER - 60)
    with pytest.raises(KeyStillRunningError):
        begin(session)


def test_a_stale_answered_key_is_still_replayed(session: Session) -> None:
    assert begin(session) is None
    answer(session)
    age(session, STALE_AFTER + 60)
    assert begin(session) == ANSWER
