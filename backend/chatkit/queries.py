"""The SQL behind the ChatKit store. Synchronous (SQLModel sessions, called on a worker thread),
one short transaction each, every query scoped by `user_id`: another user's conversation is
exactly as missing as one that does not exist. The errors are the conversation store's own
(`ConversationNotFoundError`, `TurnInProgressError`), so they mean what they mean for `/chat`.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import delete, update
from sqlmodel import col, select

from backend.chat import store as chat_store
from backend.chat.store import ConversationNotFoundError, TurnInProgressError
from backend.db import session_scope
from backend.models import Conversation, Message, utcnow

Order = Literal["asc", "desc"]


def create_conversation(user_id: str, first_message: str) -> Conversation:
    """A new, empty conversation titled after its first message (threads.create)."""
    now = utcnow()
    conversation = Conversation(
        user_id=user_id, title=chat_store.title_from(first_message), created_at=now, updated_at=now
    )
    with session_scope() as session:
        session.add(conversation)
        session.commit()
    return conversation


def read_conversation(user_id: str, conversation_id: int) -> Conversation:
    with session_scope() as session:
        conversation = session.exec(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.user_id == user_id
            )
        ).first()
    if conversation is None:
        raise ConversationNotFoundError(conversation_id)
    return conversation


def list_conversations(
    user_id: str, *, after: int | None, limit: int, order: Order
) -> tuple[list[Conversation], bool]:
    """One page by id (creation order), after the cursor; and whether more follow."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    if order == "desc":
        if after is not None:
            query = query.where(col(Conversation.id) < after)
        query = query.order_by(col(Conversation.id).desc())
    else:
        if after is not None:
            query = query.where(col(Conversation.id) > after)
        query = query.order_by(col(Conversation.id))
    with session_scope() as session:
        rows = list(session.exec(query.limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit


def rename_conversation(user_id: str, conversation_id: int, title: str) -> None:
    with session_scope() as session:
        renamed = session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id, col(Conversation.user_id) == user_id)
            # Renaming is not activity: keep the conversation where it is in the lists.
            .values(title=title, updated_at=Conversation.updated_at)
        )
        session.commit()
    if renamed.rowcount != 1:
        raise ConversationNotFoundError(conversation_id)


def read_messages(
    user_id: str, conversation_id: int, *, from_id: int | None, limit: int, order: Order
) -> list[Message]:
    """Up to `limit` messages of the conversation, starting at `from_id` (inclusive)."""
    read_conversation(user_id, conversation_id)
    query = select(Message).where(
        Message.conversation_id == conversation_id, Message.user_id == user_id
    )
    if order == "desc":
        if from_id is not None:
            query = query.where(col(Message.id) <= from_id)
        query = query.order_by(col(Message.id).desc())
    else:
        if from_id is not None:
            query = query.where(col(Message.id) >= from_id)
        query = query.order_by(col(Message.id))
    with session_scope() as session:
        return list(session.exec(query.limit(limit)).all())


def read_message(user_id: str, conversation_id: int, message_id: int) -> Message:
    with session_scope() as session:
        message = session.exec(
            select(Message).where(
                Message.id == message_id,
                Message.conversation_id == conversation_id,
                Message.user_id == user_id,
            )
        ).first()
    if message is None:
        raise ConversationNotFoundError(conversation_id)
    return message


def forget_from(user_id: str, conversation_id: int, message_id: int) -> None:
    """Delete a message and every later one (a retried turn), unless a turn is running.

    One statement: the claim is checked in the same DELETE, so a turn that claims the
    conversation meanwhile never loses messages under it.
    """
    free = (
        select(Conversation.id)
        .where(
            Conversation.id == conversation_id,
            Conversation.user_id == user_id,
            chat_store.unclaimed(utcnow()),
        )
        .exists()
    )
    with session_scope() as session:
        deleted = session.exec(
            delete(Message).where(
                col(Message.conversation_id) == conversation_id,
                col(Message.user_id) == user_id,
                col(Message.id) >= message_id,
                free,
            )
        )
        session.commit()
    if deleted.rowcount == 0:  # nothing to delete, or a turn holds it, or it is missing
        conversation = read_conversation(user_id, conversation_id)
        expires = conversation.turn_claim_expires_at
        if conversation.turn_claim is not None and expires is not None and expires >= utcnow():
            raise TurnInProgressError


def delete_conversation(user_id: str, conversation_id: int) -> None:
    """Delete the conversation and its messages, as the conversations API does (not while a
    turn runs: TurnInProgressError)."""
    with session_scope() as session:
        chat_store.delete_conversation(
            session=session, user_id=user_id, conversation_id=conversation_id
        )
