"""The conversations API: list a user's conversations, read one (a page at a time), delete one.

Async routes whose database work runs in `backend.dbwork.in_session` (see backend/api/tasks.py);
domain errors (not found, a turn running) are answered by the handlers in `backend.api.errors`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlmodel import Session

from backend.admission import admit_api_request
from backend.chat import store
from backend.chat.history import public_tool_calls
from backend.dbwork import in_session
from backend.deps import CurrentUser
from backend.models import Message
from backend.schemas import ConversationPublic, ConversationsPage, MessagePublic, ToolCallPublic

router = APIRouter(
    prefix="/api/{user_id}/conversations",
    tags=["conversations"],
    dependencies=[Depends(admit_api_request)],
)

ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MESSAGES_PAGE = 100
MESSAGES_MAX_PAGE = 200


@router.get("", response_model=ConversationsPage)
async def list_conversations(
    user_id: CurrentUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ConversationsPage:
    """The user's conversations, newest activity first."""

    def work(session: Session) -> ConversationsPage:
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

    return await in_session(work)


def _message_public(message: Message) -> MessagePublic:
    return MessagePublic(
        id=message.id,
        role=message.role,
        content=message.content,
        created_at=message.created_at,
        tool_calls=[ToolCallPublic(**call) for call in public_tool_calls(message.tool_calls)],
    )


@router.get(
    "/{conversation_id}/messages",
    response_model=list[MessagePublic],
    responses={200: {"headers": {"Link": {"description": 'rel="next": the older messages'}}}},
)
async def read_messages(
    user_id: CurrentUser,
    conversation_id: ConversationId,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MESSAGES_MAX_PAGE)] = MESSAGES_PAGE,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[MessagePublic]:
    """A page of the conversation's messages in order: the newest `limit` (default 100) of
    those older than message `before`; assistant messages carry their tool calls. When older
    messages exist, a `Link: <...?before=ID&limit=N>; rel="next"` header points at them."""

    def work(session: Session) -> list[MessagePublic]:
        found = store.read_messages(
            session=session,
            user_id=user_id,
            conversation_id=conversation_id,
            limit=limit + 1,  # one more tells whether an older page exists
            before=before,
        )
        return [_message_public(message) for message in found]

    messages = await in_session(work)
    if len(messages) > limit:
        messages = messages[1:]
        older = request.url.include_query_params(before=messages[0].id, limit=limit)
        response.headers["Link"] = f'<{older}>; rel="next"'
    return messages


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A turn is running in this conversation"}},
)
async def delete_conversation(user_id: CurrentUser, conversation_id: ConversationId) -> Response:
    """Delete the conversation and its messages."""
    await in_session(
        lambda session: store.delete_conversation(
            session=session, user_id=user_id, conversation_id=conversation_id
        )
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
