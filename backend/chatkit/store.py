"""The ChatKit `Store` on our own tables: a thread is a conversation, items are its messages.

Reads map rows to ChatKit types (`items.py`). Writes of items are deliberately no-ops: the
chat turn stores the user message and the reply together when it ends, so that the history
never disagrees with the task list (a turn that fails before any tool ran stores nothing, like
`/chat`), and a retried turn removes what it replaces itself (`server.py`). What the store does
write: a thread's title (threads.update) and deleting a thread (threads.delete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from fastapi.concurrency import run_in_threadpool

from backend.chat.store import ConversationNotFoundError
from backend.chatkit import queries
from backend.chatkit.items import (
    conversation_id_of,
    message_items,
    provisional_item_id,
    stored_item_ref,
    thread_id_of,
)
from backend.chatkit.turn import StartedTurn, TurnServices
from backend.models import Conversation

MAX_PAGE = 100


@dataclass
class RequestContext:
    """Who is asking (from the verified bearer token), what a turn runs with, and the turn
    that `TodoChatKitServer.handle` started before ChatKit's stream."""

    user_id: str
    token: str  # forwarded to the MCP server, as `/chat` does
    services: TurnServices
    idempotency_key: str | None = None
    turn: StartedTurn | None = field(default=None)
    new_conversation_id: int | None = field(default=None)  # set for threads.create


def _order(order: str) -> Literal["asc", "desc"]:
    return "asc" if order == "asc" else "desc"


def _page_size(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def thread_metadata(conversation: Conversation) -> ThreadMetadata:
    assert conversation.id is not None
    return ThreadMetadata(
        id=thread_id_of(conversation.id),
        title=conversation.title,
        created_at=conversation.created_at,
    )


async def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    """A query on a worker thread; a missing conversation is ChatKit's NotFoundError."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except ConversationNotFoundError:
        raise NotFoundError("Thread not found") from None


class ConversationStore(Store[RequestContext]):
    def generate_thread_id(self, context: RequestContext) -> str:
        # threads.create made the conversation before ChatKit asks for the new thread's id.
        if context.new_conversation_id is None:
            raise RuntimeError("threads.create did not create its conversation first")
        return thread_id_of(context.new_conversation_id)

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        return provisional_item_id(item_type)

    # --- threads ---------------------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        conversation = await _run(
            queries.read_conversation, context.user_id, conversation_id_of(thread_id)
        )
        return thread_metadata(conversation)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        conversation_id = conversation_id_of(thread.id)
        if thread.title is None:  # a new thread: its conversation exists, titled already
            await _run(queries.read_conversation, context.user_id, conversation_id)
            return
        title = thread.title.strip()  # validated by the server before ChatKit sets it
        await _run(queries.rename_conversation, context.user_id, conversation_id, title)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        size = _page_size(limit)
        cursor = conversation_id_of(after) if after is not None else None
        rows, has_more = await _run(
            queries.list_conversations,
            context.user_id,
            after=cursor,
            limit=size,
            order=_order(order),
        )
        data = [thread_metadata(row) for row in rows]
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await _run(queries.delete_conversation, context.user_id, conversation_id_of(thread_id))

    # --- items -----------------------------------------------------------------------------

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        conversation_id, size, direction = (
            conversation_id_of(thread_id),
            _page_size(limit),
            _order(order),
        )
        cursor = stored_item_ref(after) if after is not None else None
        if after is not None and cursor is None:
            raise NotFoundError(f"Item {after} not found")
        # Every message is at least one item: the cursor's message and `size + 1` more are
        # enough to fill the page and to know whether anything follows it.
        messages = await _run(
            queries.read_messages,
            context.user_id,
            conversation_id,
            from_id=cursor.message_id if cursor else None,
            limit=size + 2,
            order=direction,
        )
        items: list[ThreadItem] = []
        for message in messages:
            expanded = message_items(message, thread_id)
            items.extend(expanded if direction == "asc" else reversed(expanded))
        if after is not None:
            ids = [item.id for item in items]
            if after in ids:
                items = items[ids.index(after) + 1 :]
        page, has_more = items[:size], len(items) > size
        return Page(data=page, has_more=has_more, after=page[-1].id if has_more else None)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        ref = stored_item_ref(item_id)
        if ref is None:
            raise NotFoundError(f"Item {item_id} not found")
        message = await _run(
            queries.read_message, context.user_id, conversation_id_of(thread_id), ref.message_id
        )
        for item in message_items(message, thread_id):
            if item.id == item_id:
                return item
        raise NotFoundError(f"Item {item_id} not found")

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        """Not stored here: the turn stores its user message and reply when it ends."""

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        """Not stored here, as above."""

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        """Not here: a retried turn removes the messages it replaces in one statement."""

    # --- attachments: not supported (the request is answered with an error event) -----------

    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        raise NotFoundError("Attachments are not supported")

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        raise NotFoundError("Attachments are not supported")

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        raise NotFoundError("Attachments are not supported")
