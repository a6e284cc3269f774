"""The cancel flag on the conversation row (backend.chat.cancel): what a cancel request writes on
any replica and what the running turn polls for."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from backend.chat import cancel
from backend.chat.cancel import NoTurnRunningError
from backend.chat.store import ConversationNotFoundError
from tests.unit.test_conversation_store import claim, expire_claim, record


def flagged(session: Session, conversation_id: int, claim_value: str, user: str = "alice") -> bool:
    return cancel.cancel_requested(
        session=session, user_id=user, conversation_id=conversation_id, claim=claim_value
    )


def test_a_cancel_flags_exactly_the_running_turns_claim(session: Session) -> None:
    turn = claim(session, None)
    assert not flagged(session, turn.conversation_id, turn.claim)
    flag = cancel.request_cancel(
        session=session, user_id="alice", conversation_id=turn.conversation_id
    )
    assert flag == turn.claim
    assert flagged(session, turn.conversation_id, turn.claim)
    assert not flagged(session, turn.conversation_id, turn.claim, user="bob")
    assert not cancel.claim_released(
        session=session, user_id="alice", conversation_id=turn.conversation_id, claim=turn.claim
    )


def test_a_stale_flag_never_stops_the_next_turn(session: Session) -> None:
    first = claim(session, None)
    cancel.request_cancel(session=session, user_id="alice", conversation_id=first.conversation_id)
    record(session, first, "add buy milk", "Stopped. Nothing was done before stopping.")
    assert cancel.claim_released(
        session=session, user_id="alice", conversation_id=first.conversation_id, claim=first.claim
    )
    second = claim(session, first.conversation_id)
    assert not flagged(session, second.conversation_id, second.claim)


def test_nothing_to_cancel_without_a_live_claim(session: Session) -> None:
    turn = claim(session, None)
    record(session, turn, "add buy milk", "Added.")
    with pytest.raises(NoTurnRunningError):
        cancel.request_cancel(
            session=session, user_id="alice", conversation_id=turn.conversation_id
        )
    crashed = claim(session, turn.conversation_id)
    expire_claim(session, crashed.conversation_id)  # its process died: nothing runs
    with pytest.raises(NoTurnRunningError):
        cancel.request_cancel(
            session=session, user_id="alice", conversation_id=turn.conversation_id
        )


def test_another_users_or_a_missing_conversation_is_not_found(session: Session) -> None:
    turn = claim(session, None)
    with pytest.raises(ConversationNotFoundError):
        cancel.request_cancel(session=session, user_id="bob", conversation_id=turn.conversation_id)
    with pytest.raises(ConversationNotFoundError):
        cancel.request_cancel(session=session, user_id="alice", conversation_id=999_999)
    assert not flagged(session, turn.conversation_id, turn.claim)
