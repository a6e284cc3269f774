"""The public shapes of the chat and conversations API: request and response bodies, SSE events.

Task shapes live with their table in `backend.models` (`TaskCreate`, `TaskPublic`, ...). Routers
import their shapes from here, so no router imports another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from backend.models import clean_text

MESSAGE_MAX = 4000


class ErrorDetail(BaseModel):
    detail: str


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ChatInputError(BaseModel):
    """Invalid input (a list of problems), or an Idempotency-Key reused for another request."""

    detail: list[ValidationProblem] | str


# --- chat ------------------------------------------------------------------------------------


class ChatRequest(BaseModel):
    message: str = Field(description=f"1 to {MESSAGE_MAX} characters (after trimming)")
    conversation_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        return clean_text(value, "message", MESSAGE_MAX)


class ToolCallPublic(BaseModel):
    tool: str
    parameters: dict[str, Any]
    result: Any


class ChatResponse(BaseModel):
    conversation_id: int
    response: str
    tool_calls: list[ToolCallPublic]


# --- the events of /chat/stream (each one `data: {...}` line; the stream ends with [DONE]) ---


class StartEvent(BaseModel):
    type: Literal["start"] = "start"
    conversation_id: int


class DeltaEvent(BaseModel):
    type: Literal["delta"] = "delta"
    text: str


# `type` first in each event, as the module docstring of `backend.api.chat` shows them.
class ToolCallEvent(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    tool: str
    parameters: dict[str, Any]
    result: Any


class DoneEvent(BaseModel):
    type: Literal["done"] = "done"
    conversation_id: int
    response: str
    tool_calls: list[ToolCallPublic]


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    status: int
    detail: str


ChatEvent = StartEvent | DeltaEvent | ToolCallEvent | DoneEvent | ErrorEvent


# --- the WebSocket channel (`backend.api.chat_ws`): frames besides the events above ----------


class AuthFrame(BaseModel):
    """The token, as the first frame (when not given as the `bearer, <token>` subprotocol), or
    later to replace an expiring one (same user)."""

    type: Literal["auth"]
    token: str = Field(max_length=8192)


class MessageFrame(ChatRequest):
    type: Literal["message"]
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class CancelFrame(BaseModel):
    type: Literal["cancel"]


class PingFrame(BaseModel):
    type: Literal["ping"]


ClientFrame = Annotated[
    AuthFrame | MessageFrame | CancelFrame | PingFrame, Field(discriminator="type")
]


class SocketLimits(BaseModel):
    max_message_bytes: int
    idle_timeout_seconds: float
    chat_rate_limit_per_minute: int
    max_connections: int


class ConnectionEvent(BaseModel):
    type: Literal["connection"] = "connection"
    accepted: bool = True
    user_id: str
    limits: SocketLimits


class TypingEvent(BaseModel):
    """The assistant is working: `thinking` (a model call), or `tool` (running `tool`)."""

    type: Literal["typing"] = "typing"
    state: Literal["thinking", "tool"]
    tool: str | None = None


class PongEvent(BaseModel):
    type: Literal["pong"] = "pong"


class CancelResult(BaseModel):
    conversation_id: int
    stopped: bool = Field(description="The turn has ended and been stored (false: still ending)")


# --- conversations ---------------------------------------------------------------------------


class ConversationPublic(BaseModel):
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class ConversationsPage(BaseModel):
    items: list[ConversationPublic]
    total: int
    page: int
    per_page: int


class MessagePublic(BaseModel):
    id: int
    role: str
    content: str
    created_at: datetime
    tool_calls: list[ToolCallPublic]
