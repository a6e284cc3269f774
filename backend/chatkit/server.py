"""The ChatKit server: which ChatKit requests are answered, and a user message runs our turn.

Supported: threads.create, threads.add_user_message, threads.retry_after_item (streamed), and
threads.get_by_id, threads.list, threads.update, threads.delete, items.list. Everything else
(attachments, client tools, widget actions, structured input, feedback, transcription) is
answered with ChatKit's own error event.

Problems found before a stream starts (no such thread, a blank message, a turn already
running, the rate limit) are raised as exceptions for the route to answer as plain HTTP
errors; problems of the turn itself become an error event in the stream, with the same reason
`/chat` gives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    InputTranscribeReq,
    ItemsFeedbackReq,
    StreamOptions,
    TaskItem,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
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
from pydantic import TypeAdapter

from backend.chat.store import title_from
from backend.chatkit import queries
from backend.chatkit.items import (
    conversation_id_of,
    provisional_item_id,
    stored_item_ref,
    tool_call_task,
)
from backend.chatkit.store import ConversationStore, RequestContext
from backend.chatkit.turn import (
    ReplyDelta,
    ReplyDone,
    ToolCallDone,
    TurnRefusedError,
    run_chat_turn,
)
from backend.models import TITLE_MAX, clean_text

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


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(self) -> None:
        super().__init__(ConversationStore())

    async def handle(
        self, body: bytes, context: RequestContext, before_turn: Callable[[], Awaitable[None]]
    ) -> StreamingResult | NonStreamingResult:
        """Check a request up to where its stream would start, then let ChatKit process it.

        Raises pydantic's ValidationError (not a ChatKit request), NotFoundError,
        InvalidInputError, UnsupportedRequestError, or whatever `before_turn` raises.
        """
        request = _requests.validate_json(body)
        if isinstance(request, UNSUPPORTED):
            raise UnsupportedRequestError(request.type, is_streaming_req(request))
        thread_id: str | None = getattr(request.params, "thread_id", None)
        if thread_id is not None:
            await self.store.load_thread(thread_id, context)
        if isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
            _check_input(request.params.input)
        if isinstance(request, ThreadsRetryAfterItemReq):
            item = await self.store.load_item(
                request.params.thread_id, request.params.item_id, context
            )
            if not isinstance(item, UserMessageItem):
                raise InvalidInputError("Only a user message can be retried")
        if isinstance(request, ThreadsUpdateReq):
            try:
                clean_text(request.params.title, "title", TITLE_MAX)
            except ValueError as exc:
                raise InvalidInputError(str(exc)) from None
        if isinstance(request, TURN_REQUESTS):
            await before_turn()
        if isinstance(request, ThreadsCreateReq):
            conversation = await run_in_threadpool(
                queries.create_conversation, context.user_id, _check_input(request.params.input)
            )
            context.new_conversation_id = conversation.id
        return await self.process(body, context)

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
        if input_user_message is None:  # only the unsupported client-tool requests get here
            raise CustomStreamError("Nothing to answer", allow_retry=False)
        text = message_text(input_user_message.content)
        conversation_id = conversation_id_of(thread.id)
        retried = stored_item_ref(input_user_message.id)
        if retried is not None:
            await _forget_for_retry(context.user_id, conversation_id, retried.message_id)
        if thread.title is None:
            thread.title = title_from(text)  # ChatKit sends the title as thread.updated
        reply = AssistantMessageItem(
            id=provisional_item_id("message"),
            thread_id=thread.id,
            created_at=datetime.now(UTC),
            content=[],
        )
        streaming = False
        try:
            async for event in run_chat_turn(
                app=context.app,
                settings=context.settings,
                user_id=context.user_id,
                token=context.token,
                message=text,
                conversation_id=conversation_id,
            ):
                if isinstance(event, ToolCallDone):
                    yield ThreadItemDoneEvent(
                        item=TaskItem(
                            id=provisional_item_id("task"),
                            thread_id=thread.id,
                            created_at=datetime.now(UTC),
                            task=tool_call_task(event.tool, event.parameters, event.result),
                        )
                    )
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
        except TurnRefusedError as exc:
            raise CustomStreamError(exc.detail, allow_retry=exc.status in RETRYABLE) from None


async def _forget_for_retry(user_id: str, conversation_id: int, message_id: int) -> None:
    """threads.retry_after_item: the turn replaces this user message and all that follows."""
    try:
        await run_in_threadpool(queries.forget_from, user_id, conversation_id, message_id)
    except queries.ConversationBusyError:
        raise CustomStreamError(
            "A reply is still being written in this conversation; try again shortly",
            allow_retry=True,
        ) from None
    except queries.ConversationGoneError:
        raise NotFoundError("Thread not found") from None
