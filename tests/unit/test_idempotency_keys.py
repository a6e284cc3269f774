"""`Idempotency-Key` rows directly: who runs, what is replayed, reuse, release, the lease of a
running key (takeover, or the interrupted answer a dead turn left), expiry, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.chat import idempotency
from backend.chat.idempotency import KeyReusedError, KeyStillRunningError, StoredAnswer
from backend.models import Conversation, IdempotentRequest, utcnow

LEASE = 10.0


# Both ways `begin` may run: the chat turn runs it in autocommit (conftest's `session`).
pytestmark = pytest.mark.parametrize(
    "session", [False, True], ids=["transaction", "autocommit"], indirect=True
)


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
        lease_seconds=LEASE,
    )


def rows(session: Session) -> list[tuple[str, str, str]]:
    session.expire_all()
    found = session.exec(select(IdempotentRequest).order_by(col(IdempotentRequest.id))).all()
    return [(row.user_id, row.key, row.status) for row in found]


def answer(session: Session, final: bool = True, conversation_id: int | None = None) -> None:
    """The first request finished (or, `final=False`, its journal left an interrupted answer)."""
    idempotency.store_answer(
        session=session,
        user_id="alice",
        key="key-1",
        request_fingerprint=FINGERPRINT,
        answer=ANSWER,
        conversation_id=conversation_id,
        final=final,
    )
    session.commit()


def lapse(session: Session, seconds: float = 1.0) -> None:
    """What a crashed first request leaves behind: a "running" row whose lease ran out."""
    session.exec(
        update(IdempotentRequest)
        .where(col(IdempotentRequest.status) == idempotency.RUNNING)
        .values(expires_at=utcnow() - timedelta(seconds=seconds))
    )
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


def test_a_running_key_whose_lease_lapsed_is_taken_over_once(session: Session) -> None:
    assert begin(session) is None
    lapse(session)
    assert begin(session) is None  # the crashed request changed nothing: run it afresh
    # The takeover renewed the lease, so the next retry waits for it rather than running too.
    with pytest.raises(KeyStillRunningError) as running:
        begin(session)
    assert running.value.lease_left is not None
    assert 0 < running.value.lease_left.total_seconds() <= LEASE
    assert rows(session) == [("alice", "key-1", idempotency.RUNNING)]


def test_a_running_key_within_its_lease_is_not_taken_over(session: Session) -> None:
    assert begin(session) is None
    with pytest.raises(KeyStillRunningError):
        begin(session)


def test_a_dead_turn_that_had_started_a_tool_is_reported_not_rerun(session: Session) -> None:
    assert begin(session) is None
    answer(session, final=False)  # the journal's interrupted answer; the turn then died
    with pytest.raises(KeyStillRunningError):
        begin(session)  # alive as far as anyone can tell: its lease runs
    lapse(session)
    assert begin(session) == ANSWER  # the retry gets the interrupted answer, runs nothing
    assert rows(session) == [("alice", "key-1", idempotency.DONE)]
    assert begin(session) == ANSWER


def test_an_answer_is_replayed_until_it_expires(session: Session) -> None:
    assert begin(session) is None
    answer(session)
    assert begin(session) == ANSWER
    session.exec(update(IdempotentRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert begin(session) is None  # forgotten: the key starts a new request
    assert rows(session) == [("alice", "key-1", idempotency.RUNNING)]


def test_an_answer_goes_with_its_conversation(session: Session) -> None:
    conversation = Conversation(user_id="alice", title="t")
    session.add(conversation)
    session.commit()
    assert begin(session) is None
    answer(session, conversation_id=conversation.id)
    session.delete(conversation)
    session.commit()
    assert rows(session) == []
