"""The conversations API: list a user's conversations, read one, delete one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel

from backend.api.chat import ToolCallPublic
from backend.chat import store
from backend.chat.history import public_tool_calls
from backend.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/{user_id}/conversations", tags=["conversations"])

ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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


def _not_found(exc: store.ConversationNotFoundError) -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Conversation not found")


@router.get("", response_model=ConversationsPage)
def list_conversations(
    user_id: CurrentUser,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """The user's conversations, newest activity first."""
    summaries, total = store.list_conversations(
        session=session, user_id=user_id, page=page, per_page=per_page
    )
    items = [
        ConversationPublic(
            id=summary.conversation.id,  # type: ignore[arg-type]
            title=summary.conversation.title,
            created_at=summary.conversation.created_at,
            updated_at=summary.conversation.updated_at,
            message_count=summary.message_count,
        )
        for summary in summaries
    ]
    return ConversationsPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/{conversation_id}/messages", response_model=list[MessagePublic])
def read_messages(
    user_id: CurrentUser, session: SessionDep, conversation_id: ConversationId
) -> Any:
    """Every message of the conversation in order; assistant messages carry their tool calls."""
    try:
        messages = store.read_messages(
            session=session, user_id=user_id, conversation_id=conversation_id
        )
    except store.ConversationNotFoundError as exc:
        raise _not_found(exc) from exc
    return [
        MessagePublic(
            id=message.id,  # type: ignore[arg-type]
            role=message.role,
            content=message.content,
            created_at=message.created_at,
            tool_calls=[ToolCallPublic(**call) for call in public_tool_calls(message.tool_calls)],
        )
        for message in messages
    ]


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A turn is running in this conversation"}},
)
def delete_conversation(
    user_id: CurrentUser, session: SessionDep, conversation_id: ConversationId
) -> Response:
    """Delete the conversation and its messages."""
    try:
        store.delete_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    except store.ConversationNotFoundError as exc:
        raise _not_found(exc) from exc
    except store.TurnInProgressError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
