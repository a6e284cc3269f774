"""Database tables and the public shapes of tasks.

Every row carries the `user_id` of its owner (the JWT subject); every query filters on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import field_validator
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
USER_ID_MAX = 128


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _updated_at() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"onupdate": utcnow},
    )


# --- tasks -------------------------------------------------------------------------------


def reject_nul(value: str, field: str) -> str:
    """Refuse text no database can store: U+0000 (PostgreSQL refuses it; accepted by SQLite)
    and lone UTF-16 surrogates such as "\\ud800" (valid JSON, not encodable as UTF-8)."""
    if "\x00" in value:
        raise ValueError(f"{field} must not contain NUL (U+0000) characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{field} must not contain lone surrogates (U+D800-U+DFFF)") from None
    return value


def clean_text(value: str, field: str, max_length: int) -> str:
    """Trimmed, non-blank text of at most `max_length` characters (titles, chat messages)."""
    value = reject_nul(value, field).strip()
    if not value:
        raise ValueError(f"{field} must not be blank")
    if len(value) > max_length:
        raise ValueError(f"{field} must be at most {max_length} characters")
    return value


def _clean_title(value: str) -> str:
    return clean_text(value, "title", TITLE_MAX)


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)


class TaskCreate(TaskBase):
    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _clean_title(value)

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        if isinstance(value, str):
            reject_nul(value, "description")
        return "" if value is None else value


class TaskUpdate(SQLModel):
    """Fields to change; those left out stay as they are."""

    title: str | None = Field(default=None, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    completed: bool | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else _clean_title(value)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else reject_nul(value, "description")


class Task(TaskBase, table=True):
    __table_args__ = (Index("ix_task_user_id_id", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True, max_length=USER_ID_MAX)
    completed: bool = Field(default=False)
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class TaskPublic(TaskBase):
    id: int
    user_id: str
    completed: bool
    created_at: datetime
    updated_at: datetime


# --- conversations -----------------------------------------------------------------------


class Conversation(SQLModel, table=True):
    __table_args__ = (Index("ix_conversation_user_id_updated_at", "user_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True, max_length=USER_ID_MAX)
    title: str = Field(default="New conversation", max_length=TITLE_MAX)
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()
    # A running turn claims the conversation so that two turns never interleave. The claim
    # carries an expiry so that a crashed process does not lock the conversation forever.
    turn_claim: str | None = Field(default=None, max_length=64)
    turn_claim_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The claim of a turn someone asked to stop (`POST .../cancel`, any replica); the running
    # turn polls for its own claim here (backend/chat/cancel.py).
    turn_cancel_claim: str | None = Field(default=None, max_length=64)


class Message(SQLModel, table=True):
    """One message of a conversation.

    role "user": what the person typed. role "assistant": the agent's reply, with
    `tool_calls` holding the turn's tool calls in order as
    `{"call_id", "tool", "parameters", "result"}` so the turn can be replayed to a model.
    """

    __table_args__ = (Index("ix_message_conversation_id_id", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("conversation.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    user_id: str = Field(index=True, max_length=USER_ID_MAX)
    role: str = Field(max_length=16)
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, default=list)
    )
    created_at: datetime = _created_at()


class IdempotentRequest(SQLModel, table=True):
    """The first answer to a chat request sent with an `Idempotency-Key`, replayed on retry."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotent_request_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=USER_ID_MAX)
    key: str = Field(max_length=255)
    # "running" while the first request is in flight, "done" once `response` is stored.
    status: str = Field(default="running", max_length=16)
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _created_at()
    # The conversation the request's turn ran in: the answer goes when the conversation does.
    conversation_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("conversation.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    # Running: the lease of the request's turn, renewed while it runs (past it, the turn died).
    # Done: when the stored answer is forgotten.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
