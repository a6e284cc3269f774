"""The conversations API: list a user's conversations, read one, delete one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from backend.chat import store
from backend.chat.history import public_tool_calls
from backend.deps import CurrentUser, SessionDep
from backend.schemas import ConversationPublic, ConversationsPage, MessagePublic, ToolCallPublic

router = APIRouter(prefix="/api/{user_id}/conversations", tags=["conversations"])

ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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
            id=summary.conversation.id,
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
    messages = store.read_messages(
        session=session, user_id=user_id, conversation_id=conversation_id
    )
    return [
        MessagePublic(
            id=message.id,
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
    store.delete_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
