"""Stored messages as ChatKit thread items, and the ids that tie the two together.

A thread id is the conversation id ("12": the same number the conversations API shows). A user
message is one `user_message` item, id "msg_<message id>". An assistant message is one `task`
item per tool call of its turn, id "tc_<message id>_<n>" (the tool, its arguments and its
result), followed by one `assistant_message` item, id "msg_<message id>".

Items that a running turn streams get provisional ids ("msg_new_..."): the turn stores its
messages only when it ends. The stream then gives the client the stored ids above
(`server._as_stored`), and they are the ones served from then on.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from chatkit.store import NotFoundError, StoreItemType
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    CustomTask,
    InferenceOptions,
    TaskItem,
    ThreadItem,
    UserMessageItem,
    UserMessageTextContent,
)

from backend.models import Message

MAX_ID = 2**31 - 1
_THREAD_ID = re.compile(r"[1-9][0-9]{0,9}")
_ITEM_ID = re.compile(r"(msg|tc)_([1-9][0-9]{0,9})(?:_([1-9][0-9]{0,3}))?")


def thread_id_of(conversation_id: int) -> str:
    return str(conversation_id)


def conversation_id_of(thread_id: str) -> int:
    """The conversation behind a thread id; NotFoundError for anything that cannot be one."""
    if not _THREAD_ID.fullmatch(thread_id) or int(thread_id) > MAX_ID:
        raise NotFoundError(f"Thread {thread_id} not found")
    return int(thread_id)


@dataclass(frozen=True)
class ItemRef:
    """Where a stored item is: its message, and its place among that message's items."""

    message_id: int
    position: int  # tool calls 1..n, then the message itself (position 0 sorts last, see key)

    @property
    def key(self) -> tuple[int, int]:
        # Items of one message go tool calls first, the message text last.
        return (self.message_id, self.position if self.position else 10_000)


def stored_item_ref(item_id: str) -> ItemRef | None:
    """The stored item an id names, or None (a provisional id, or not one of ours)."""
    match = _ITEM_ID.fullmatch(item_id)
    if match is None or int(match.group(2)) > MAX_ID:
        return None
    kind, message_id, position = match.group(1), int(match.group(2)), match.group(3)
    if (kind == "tc") != (position is not None):
        return None
    return ItemRef(message_id, int(position) if position else 0)


def message_item_id(message_id: int) -> str:
    return f"msg_{message_id}"


def tool_call_item_id(message_id: int, position: int) -> str:
    return f"tc_{message_id}_{position}"


def provisional_item_id(item_type: StoreItemType) -> str:
    return f"{'tc' if item_type == 'task' else 'msg'}_new_{uuid.uuid4().hex[:12]}"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def tool_call_task(tool: str, parameters: dict[str, Any], result: Any) -> CustomTask:
    """One tool call as a finished workflow task: the call as its title, the result as content."""
    failed = isinstance(result, dict) and set(result) == {"error"}
    return CustomTask(
        title=f"{tool}({_compact(parameters)})",
        content=f"Failed: {result['error']}" if failed else _compact(result),
        icon="check-circle" if not failed else "circle-question",
        status_indicator="complete",
    )


def message_items(message: Message, thread_id: str) -> list[ThreadItem]:
    """The ChatKit items of one stored message, in order."""
    assert message.id is not None
    if message.role == "user":
        return [
            UserMessageItem(
                id=message_item_id(message.id),
                thread_id=thread_id,
                created_at=message.created_at,
                content=[UserMessageTextContent(text=message.content)],
                inference_options=InferenceOptions(),
            )
        ]
    items: list[ThreadItem] = [
        TaskItem(
            id=tool_call_item_id(message.id, position),
            thread_id=thread_id,
            created_at=message.created_at,
            task=tool_call_task(
                str(call.get("tool")), call.get("parameters") or {}, call.get("result")
            ),
        )
        for position, call in enumerate(message.tool_calls, start=1)
    ]
    items.append(
        AssistantMessageItem(
            id=message_item_id(message.id),
            thread_id=thread_id,
            created_at=message.created_at,
            content=[AssistantMessageContent(text=message.content)],
        )
    )
    return items
