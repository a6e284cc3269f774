"""The ChatKit server: which ChatKit requests are answered, and a user message runs our turn.

Supported: threads.create, threads.add_user_message, threads.retry_after_item (streamed), and
threads.get_by_id, threads.list, threads.update, threads.delete, items.list. Everything else
(attachments, client tools, widget actions, structured input, feedback, transcription) is
answered with ChatKit's own error event.

A turn is started before the stream does (`handle`), so everything that stops it from running
(no such thread, a blank message, the rate limit, a turn already running, a reused
Idempotency-Key) is raised for the route to answer as a plain HTTP error, the same one `/chat`
gives. What goes wrong once the turn runs becomes an error event in the stream, with the reason
`/chat` gives.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from chatkit.errors import CustomStreamError, ErrorCode
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    ErrorEvent,
    InputTranscribeReq,
    ItemsFeedbackReq,
    StreamOptions,
    StreamOptionsEvent,
    TaskItem,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    UserMessageInput,
    UserMessageItem,
    UserMessageTextContent,
    is_streaming_req,
)
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, TypeAdapter

from backend.chat.store import title_from
from backend.chatkit import queries
from backend.chatkit.items import (
    conversation_id_of,
    message_item_id,
    message_items,
    provisional_item_id,
    stored_item_ref,
    tool_call_item_id,
    tool_call_task,
)
from backend.chatkit.store import ConversationStore, RequestContext
from backend.chatkit.turn import (
    ReplyDelta,
    ReplyDone,
    StartedTurn,
    ToolCallDone,
    TurnRefusedError,
    conversation_of,
    start_turn,
    turn_events,
)
from backend.models import TITLE_MAX, clean_text

log = logging.getLogger(__name__)

MESSAGE_MAX = 4000  # the same bound as /chat
RETRYABLE = {409, 429, 503}

UNSUPPORTED = (
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
    ItemsFeedbackReq,
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    InputTranscribeReq,
)
TURN_REQUESTS = (ThreadsCreateReq, ThreadsAddUserMessageReq, ThreadsRetryAfterItemReq)

_requests: TypeAdapter[Any] = TypeAdapter(ChatKitReq)


class InvalidInputError(ValueError):
    """The request is well-formed ChatKit but its content is not acceptable (HTTP 422)."""


class UnsupportedRequestError(Exception):
    """A ChatKit request this server does not implement."""

    def __init__(self, request_type: str, streaming: bool) -> None:
        super().__init__(f"{request_type} is not supported by this server")
        self.request_type = request_type
        self.streaming = streaming


def message_text(content: list[Any]) -> str:
    """A user message's text (tags count as their text), validated like `/chat`'s."""
    text = "".join(
        part.text if isinstance(part, UserMessageTextContent) else f" {part.text} "
        for part in content
    )
    try:
        return clean_text(text, "message", MESSAGE_MAX)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def _check_input(user_input: UserMessageInput) -> str:
    if user_input.attachments:
        raise UnsupportedRequestError("attachments", streaming=True)
    return message_text(user_input.content)


def sse(event: BaseModel) -> bytes:
    """One event as ChatKit streams it (`ChatKitServer._serialize`'s encoding)."""
    payload = event.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    )
    return b"data: " + payload.encode() + b"\n\n"


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(self) -> None:
        super().__init__(ConversationStore())

    async def handle(
        self, body: bytes, context: RequestContext, before_turn: Callable[[], Awaitable[None]]
    ) -> StreamingResult | NonStreamingResult:
        """Check a request up to where its stream would start, start its turn, then let
        ChatKit process it.

        Raises pydantic's ValidationError (not a ChatKit request), NotFoundError,
        InvalidInputError, UnsupportedRequestError, whatever `before_turn` raises, and the
        domain errors of the turn (`backend.chatkit.turn.start_turn`).
        """
        request = _requests.validate_json(body)
        if isinstance(request, UNSUPPORTED):
            raise UnsupportedRequestError(request.type, is_streaming_req(request))
        thread_id: str | None = getattr(request.params, "thread_id", None)
        thread = None if thread_id is None else await self.store.load_thread(thread_id, context)
        if isinstance(request, ThreadsUpdateReq):
            try:
                clean_text(request.params.title, "title", TITLE_MAX)
            except ValueError as exc:
                raise InvalidInputError(str(exc)) from None
        if isinstance(request, ThreadsRetryAfterItemReq):
            assert thread is not None
            return await self._retry(request, thread, context, before_turn)
        if isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
            text = _check_input(request.params.input)
            await before_turn()
            conversation_id = await self._conversation_for(request, text, context)
            context.turn = await self._start(context, text, conversation_id)
            if isinstance(request, ThreadsCreateReq):  # ChatKit asks the store for its id
                context.new_conversation_id = conversation_of(context.turn)
        return await self.process(body, context)

    async def _conversation_for(
        self,
        request: ThreadsCreateReq | ThreadsAddUserMessageReq,
        text: str,
        context: RequestContext,
    ) -> int | None:
        if isinstance(request, ThreadsAddUserMessageReq):
            return conversation_id_of(request.params.thread_id)
        if context.idempotency_key is not None:
            # The turn creates the conversation, so that a retry with the same key finds the
            # first answer (and its thread) instead of making a second thread.
            return None
        # Made first, so that a thread whose first turn fails stays, empty, for the next try.
        conversation = await run_in_threadpool(queries.create_conversation, context.user_id, text)
        return conversation.id

    async def _start(
        self,
        context: RequestContext,
        text: str,
        conversation_id: int | None,
        idempotent: bool = True,
    ) -> StartedTurn:
        return await start_turn(
            context.services,
            user_id=context.user_id,
            token=context.token,
            message=text,
            conversation_id=conversation_id,
            idempotency_key=context.idempotency_key if idempotent else None,
        )

    async def _retry(
        self,
        request: ThreadsRetryAfterItemReq,
        thread: ThreadMetadata,
        context: RequestContext,
        before_turn: Callable[[], Awaitable[None]],
    ) -> StreamingResult:
        """threads.retry_after_item: the turn replaces this user message and all that follows.

        Streamed here rather than by ChatKit's `process`, which would look the item up among
        the thread's items after the messages it names were deleted for the new turn.
        """
        item = await self.store.load_item(thread.id, request.params.item_id, context)
        if not isinstance(item, UserMessageItem):
            raise InvalidInputError("Only a user message can be retried")
        text = message_text(item.content)
        await before_turn()
        ref = stored_item_ref(item.id)
        assert ref is not None  # load_item found it among the stored items
        conversation_id = conversation_id_of(thread.id)
        await run_in_threadpool(
            queries.forget_from, context.user_id, conversation_id, ref.message_id
        )
        # No Idempotency-Key here: the messages it would replay were just deleted.
        context.turn = await self._start(context, text, conversation_id, idempotent=False)
        return StreamingResult(self._stream(thread, item, context))

    async def _stream(
        self, thread: ThreadMetadata, item: UserMessageItem, context: RequestContext
    ) -> AsyncGenerator[bytes, None]:
        yield sse(StreamOptionsEvent(stream_options=self.get_stream_options(thread, context)))
        try:
            async for event in self.respond(thread, item, context):
                yield sse(event)
        except CustomStreamError as exc:
            yield sse(ErrorEvent(code="custom", message=exc.message, allow_retry=exc.allow_retry))
        except Exception:
            log.exception("a ChatKit retry stream failed")
            yield sse(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))

    def get_stream_options(self, thread: ThreadMetadata, context: RequestContext) -> StreamOptions:
        # A turn runs to its end and is stored even if nobody listens (as with /chat/stream),
        # so offering a "stop" button would be a promise the server does not keep.
        return StreamOptions(allow_cancel=False)

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: RequestContext
    ) -> None:
        """The client went away: the turn goes on and stores itself; nothing to add here."""

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is None or context.turn is None:
            # Only the unsupported client-tool requests get here (refused before).
            raise CustomStreamError("Nothing to answer", allow_retry=False)
        if thread.title is None:  # ChatKit sends the title as thread.updated
            thread.title = title_from(message_text(input_user_message.content))
        reply = AssistantMessageItem(
            id=provisional_item_id("message"),
            thread_id=thread.id,
            created_at=datetime.now(UTC),
            content=[],
        )
        tool_items: list[TaskItem] = []
        streaming = False
        try:
            async for event in turn_events(context.turn):
                if isinstance(event, ToolCallDone):
                    task_item = TaskItem(
                        id=provisional_item_id("task"),
                        thread_id=thread.id,
                        created_at=datetime.now(UTC),
                        task=tool_call_task(event.tool, event.parameters, event.result),
                    )
                    tool_items.append(task_item)
                    yield ThreadItemDoneEvent(item=task_item)
                elif isinstance(event, ReplyDelta):
                    if not streaming:
                        streaming = True
                        yield ThreadItemAddedEvent(item=reply)
                    yield ThreadItemUpdatedEvent(
                        item_id=reply.id,
                        update=AssistantMessageContentPartTextDelta(
                            content_index=0, delta=event.text
                        ),
                    )
                elif isinstance(event, ReplyDone):
                    reply.content = [AssistantMessageContent(text=event.text)]
                    yield ThreadItemDoneEvent(item=reply)
                    if event.message_ids is not None:
                        turn: list[ThreadItem] = [input_user_message, *tool_items, reply]
                        for stored_event in _replaced(turn, _renamed(turn, event.message_ids)):
                            yield stored_event
        except TurnRefusedError as exc:
            if exc.message_ids is not None:  # tools had run: the turn was stored anyway
                streamed: list[ThreadItem] = [input_user_message, *tool_items]
                streamed += [reply] if streaming else []
                stored = await _stored_turn(context.user_id, thread.id, exc.message_ids)
                for stored_event in _replaced(streamed, stored):
                    yield stored_event
            problem = exc.problem
            raise CustomStreamError(
                problem.detail, allow_retry=problem.status in RETRYABLE
            ) from None


def _renamed(turn: list[ThreadItem], message_ids: tuple[int, int]) -> list[ThreadItem]:
    """A finished turn's streamed items (user message, tool calls, reply) under stored ids."""
    user_id, reply_id = message_ids
    user_message, *tool_items, reply = turn
    renamed: list[ThreadItem] = [user_message.model_copy(update={"id": message_item_id(user_id)})]
    renamed += [
        item.model_copy(update={"id": tool_call_item_id(reply_id, position)})
        for position, item in enumerate(tool_items, start=1)
    ]
    renamed.append(reply.model_copy(update={"id": message_item_id(reply_id)}))
    return renamed


async def _stored_turn(
    user_id: str, thread_id: str, message_ids: tuple[int, int]
) -> list[ThreadItem]:
    """The items of a turn as stored (a failed turn stores a note instead of the reply)."""
    messages = await run_in_threadpool(
        queries.read_messages,
        user_id,
        conversation_id_of(thread_id),
        from_id=message_ids[0],
        limit=2,
        order="asc",
    )
    return [item for message in messages for item in message_items(message, thread_id)]


def _replaced(streamed: list[ThreadItem], stored: list[ThreadItem]) -> list[ThreadStreamEvent]:
    """Events that swap the items a turn streamed (under ids the turn had not stored yet) for
    the stored ones.

    ChatKit has no event that renames an item, so each is removed and the stored ones are
    added in order: the thread ends up exactly as `items.list` returns it, and the client holds
    ids that `threads.retry_after_item` and `items.list` know.
    """
    removed: list[ThreadStreamEvent] = [
        ThreadItemRemovedEvent(item_id=item.id) for item in streamed
    ]
    return removed + [ThreadItemDoneEvent(item=item) for item in stored]
