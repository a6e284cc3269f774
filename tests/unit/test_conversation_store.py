"""The conversation store directly: the turn-claim protocol (expiry and takeover included) and
the conversations CRUD, each scoped by user.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from backend.chat import claims
from backend.chat import store as conversations
from backend.chat.claims import ClaimedTurn
from backend.chat.store import ConversationNotFoundError, TurnInProgressError
from backend.models import Conversation, utcnow

CLAIM_SECONDS = 600.0


def claim(
    session: Session, conversation_id: int | None, user_id: str = "alice", limit: int = 20
) -> ClaimedTurn:
    return claims.claim_turn(
        session=session,
        user_id=user_id,
        conversation_id=conversation_id,
        first_message="add buy milk",
        history_limit=limit,
        claim_seconds=CLAIM_SECONDS,
    )


def record(session: Session, turn: ClaimedTurn, user_message: str, reply: str) -> None:
    claims.record_turn(
        session=session,
        user_id="alice",
        turn=turn,
        user_message=user_message,
        reply=reply,
        tool_calls=[{"call_id": "c1", "tool": "list_tasks", "parameters": {}, "result": []}],
    )
    session.commit()


def stored(session: Session, conversation_id: int) -> Conversation:
    session.expire_all()
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    return conversation


def expire_claim(session: Session, conversation_id: int) -> None:
    """What a crashed process leaves behind: a claim whose expiry has passed."""
    session.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id)
        .values(turn_claim_expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()


def test_a_new_conversation_is_created_claimed_and_titled(session: Session) -> None:
    turn = claim(session, None)
    assert turn.created and turn.history == []
    conversation = stored(session, turn.conversation_id)
    assert (conversation.user_id, conversation.title) == ("alice", "add buy milk")
    assert conversation.turn_claim == turn.claim
    assert conversation.turn_claim_expires_at is not None
    assert conversation.turn_claim_expires_at > utcnow()


def test_a_held_claim_refuses_a_second_turn_until_it_is_released(session: Session) -> None:
    turn = claim(session, None)
    with pytest.raises(TurnInProgressError):
        claim(session, turn.conversation_id)
    record(session, turn, "add buy milk", "Added it.")
    assert stored(session, turn.conversation_id).turn_claim is None
    again = claim(session, turn.conversation_id)
    assert not again.created and again.claim != turn.claim


def test_an_expired_claim_is_taken_over_and_the_old_turn_cannot_release_it(
    session: Session,
) -> None:
    crashed = claim(session, None)
    expire_claim(session, crashed.conversation_id)
    takeover = claim(session, crashed.conversation_id)
    assert stored(session, crashed.conversation_id).turn_claim == takeover.claim

    # The crashed turn comes back late: its messages are kept, the new claim is not released.
    record(session, crashed, "add buy milk", "Added it.")
    assert stored(session, crashed.conversation_id).turn_claim == takeover.claim
    claims.abandon_turn(session=session, user_id="alice", turn=crashed)
    session.commit()
    assert stored(session, crashed.conversation_id).turn_claim == takeover.claim
    with pytest.raises(TurnInProgressError):
        claim(session, crashed.conversation_id)

    record(session, takeover, "and call mum", "Added that too.")
    assert stored(session, crashed.conversation_id).turn_claim is None


def test_history_is_the_newest_messages_oldest_first(session: Session) -> None:
    turn = claim(session, None)
    record(session, turn, "first", "one")
    turn = claim(session, turn.conversation_id)
    record(session, turn, "second", "two")
    turn = claim(session, turn.conversation_id, limit=3)
    assert [(m.role, m.content) for m in turn.history] == [
        ("assistant", "one"),
        ("user", "second"),
        ("assistant", "two"),
    ]
    assert turn.history[0].tool_calls == [
        {"call_id": "c1", "tool": "list_tasks", "parameters": {}, "result": []}
    ]


def test_a_journaled_turn_is_finished_in_place(session: Session) -> None:
    turn = claim(session, None)
    journaled = claims.insert_turn_messages(  # what the turn's journal writes before a tool
        session=session,
        user_id="alice",
        conversation_id=turn.conversation_id,
        user_message="add buy milk",
        asked_at=turn.started_at,
        reply="interrupted",
        tool_calls=[{"call_id": "journal-0", "tool": "add_task", "parameters": {}}],
        replied_at=utcnow(),
    )
    session.commit()
    calls = [{"call_id": "c1", "tool": "add_task", "parameters": {}, "result": {"id": 1}}]
    ids = claims.record_turn(
        session=session,
        user_id="alice",
        turn=turn,
        user_message="add buy milk",
        reply="Added it.",
        tool_calls=calls,
        journaled=journaled,
    )
    session.commit()
    assert ids == journaled and journaled[0] < journaled[1]
    session.expire_all()
    read = conversations.read_messages(
        session=session, user_id="alice", conversation_id=turn.conversation_id
    )
    assert [(m.id, m.role, m.content, m.tool_calls) for m in read] == [
        (journaled[0], "user", "add buy milk", []),
        (journaled[1], "assistant", "Added it.", calls),
    ]
    assert read[0].created_at == turn.started_at
    assert stored(session, turn.conversation_id).turn_claim is None


@pytest.mark.parametrize("session", [False, True], ids=["transaction", "autocommit"], indirect=True)
def test_a_claim_whose_history_cannot_be_read_is_given_back(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chat turn claims in autocommit: the claim is committed before the history is read.
    first = claim(session, None)
    record(session, first, "add buy milk", "Added it.")

    def unreadable(*_: object) -> None:
        raise RuntimeError("the history could not be read")

    monkeypatch.setattr(claims, "_newest_messages", unreadable)
    with pytest.raises(RuntimeError):
        claim(session, first.conversation_id)
    assert stored(session, first.conversation_id).turn_claim is None


def test_abandoning_drops_a_conversation_made_for_the_turn(session: Session) -> None:
    turn = claim(session, None)
    claims.abandon_turn(session=session, user_id="alice", turn=turn)
    session.commit()
    session.expire_all()
    assert session.get(Conversation, turn.conversation_id) is None


def test_abandoning_keeps_an_existing_conversation_and_frees_it(session: Session) -> None:
    first = claim(session, None)
    record(session, first, "add buy milk", "Added it.")
    turn = claim(session, first.conversation_id)
    claims.abandon_turn(session=session, user_id="alice", turn=turn)
    session.commit()
    assert stored(session, first.conversation_id).turn_claim is None
    read = conversations.read_messages(
        session=session, user_id="alice", conversation_id=first.conversation_id
    )
    assert [m.content for m in read] == ["add buy milk", "Added it."]


def test_another_users_or_a_missing_conversation_is_not_found(session: Session) -> None:
    turn = claim(session, None)
    record(session, turn, "add buy milk", "Added it.")
    for user_id, conversation_id in (("bob", turn.conversation_id), ("alice", 424242)):
        with pytest.raises(ConversationNotFoundError):
            claim(session, conversation_id, user_id=user_id)
        with pytest.raises(ConversationNotFoundError):
            conversations.read_messages(
                session=session, user_id=user_id, conversation_id=conversation_id
            )
        with pytest.raises(ConversationNotFoundError):
            conversations.delete_conversation(
                session=session, user_id=user_id, conversation_id=conversation_id
            )
    assert stored(session, turn.conversation_id).turn_claim is None  # bob claimed nothing


def test_a_conversation_is_not_deleted_while_a_turn_runs(session: Session) -> None:
    turn = claim(session, None)
    with pytest.raises(TurnInProgressError):
        conversations.delete_conversation(
            session=session, user_id="alice", conversation_id=turn.conversation_id
        )
    record(session, turn, "add buy milk", "Added it.")
    conversations.delete_conversation(
        session=session, user_id="alice", conversation_id=turn.conversation_id
    )
    with pytest.raises(ConversationNotFoundError):
        conversations.read_messages(
            session=session, user_id="alice", conversation_id=turn.conversation_id
        )


def test_listing_is_newest_activity_first_with_counts_and_pages(session: Session) -> None:
    older = claim(session, None)
    record(session, older, "older", "reply")
    newer = claim(session, None)
    record(session, newer, "newer", "reply")
    claim(session, None, user_id="bob")
    # Activity in the older conversation moves it to the top.
    again = claim(session, older.conversation_id)
    record(session, again, "older again", "reply")

    page, total = conversations.list_conversations(
        session=session, user_id="alice", page=1, per_page=1
    )
    assert total == 2
    assert [(s.conversation.id, s.message_count) for s in page] == [(older.conversation_id, 4)]
    page, _ = conversations.list_conversations(session=session, user_id="alice", page=2, per_page=1)
    assert [(s.conversation.id, s.message_count) for s in page] == [(newer.conversation_id, 2)]


def test_a_title_is_the_first_message_on_one_line_cut_at_a_word() -> None:
    assert conversations.title_from("  buy\n milk  ") == "buy milk"
    long = "please remember to " + "buy some milk and bread " * 5
    title = conversations.title_from(long)
    assert title.endswith("…") and len(title) <= conversations.TITLE_LENGTH
    assert long.startswith(title[:-1]) and long[len(title) - 1] == " "
