"""A turn's events as its clients see them: one serialisation for every chat channel.

`/chat/stream` sends each as an SSE `data:` line and the WebSocket channel (`backend.api.chat_ws`)
as a text frame: the same `start` / `delta` / `tool_call` / `done` / `error` objects.
"""

from __future__ import annotations

from typing import Any

from backend.chat.turn import TextDelta, ToolCalled, ToolStarted, TurnDone, TurnEvent, TurnStarted
from backend.schemas import (
    ChatEvent,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    StartEvent,
    ToolCallEvent,
)


def chat_event(event: TurnEvent) -> ChatEvent | None:
    """A turn event as the client sees it; None for one only the WebSocket shows (`typing`)."""
    if isinstance(event, TurnStarted):
        return StartEvent(conversation_id=event.conversation_id)
    if isinstance(event, TextDelta):
        return DeltaEvent(text=event.text)
    if isinstance(event, ToolStarted):
        return None
    if isinstance(event, ToolCalled):
        return ToolCallEvent.model_validate(event.call.public())
    if isinstance(event, TurnDone):
        return DoneEvent.model_validate(event.body())
    return ErrorEvent(status=event.status, detail=event.detail)


def replayed(body: dict[str, Any]) -> list[ChatEvent]:
    """A stored answer as the events it was first streamed as (its text in one delta)."""
    done = DoneEvent.model_validate(body)
    events: list[ChatEvent] = [StartEvent(conversation_id=done.conversation_id)]
    events += [ToolCallEvent.model_validate(call.model_dump()) for call in done.tool_calls]
    if done.response:
        events.append(DeltaEvent(text=done.response))
    return [*events, done]
