"""`OfflineModel`: the Agents SDK `Model` interface over the rule-based planner.

It answers like any model would: with function calls for the MCP tools (which the agent loop
runs) or with a final message, and it streams the same output as Responses events. It never
claims to be a language model.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Usage
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

from backend.chat.offline.planner import next_step
from backend.chat.offline.session import Step
from backend.chat.offline.transcript import read_transcript

MODEL_NAME = "offline"


def _output_items(step: Step, fingerprint: str, position: int) -> list[TResponseOutputItem]:
    """Call ids are unique in the conversation: the turn's fingerprint plus the call's place."""
    if step.calls:
        return [
            ResponseFunctionToolCall(
                id=f"fc_{fingerprint}_{position + index}",
                call_id=f"call_{fingerprint}_{position + index}",
                type="function_call",
                name=request.name,
                arguments=json.dumps(request.arguments, ensure_ascii=False),
                status="completed",
            )
            for index, request in enumerate(step.calls)
        ]
    return [
        ResponseOutputMessage(
            id=f"msg_{fingerprint}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=step.reply, annotations=[])],
        )
    ]


class OfflineModel(Model):
    """Deterministic and stateless: each answer depends on the input items alone."""

    def _decide(self, input: str | list[TResponseInputItem]) -> list[TResponseOutputItem]:
        transcript = read_transcript(input)
        step = next_step(transcript)
        return _output_items(step, transcript.fingerprint, len(transcript.current.calls))

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        return ModelResponse(output=self._decide(input), usage=Usage(requests=1), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        for event in stream_events(self._decide(input)):
            yield event


def _response(output: list[TResponseOutputItem], status: str) -> Response:
    return Response(
        id="offline-response",
        created_at=0,
        model=MODEL_NAME,
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=True,
        status=status,  # type: ignore[arg-type]
    )


def _chunks(text: str) -> list[str]:
    """Word by word, each chunk keeping its trailing space, so deltas join back exactly."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


def stream_events(output: list[TResponseOutputItem]) -> list[TResponseStreamEvent]:
    """The Responses stream of `output`: created, each item (text in word deltas), completed."""
    events: list[Any] = []

    def emit(event: Any) -> None:
        events.append(event)

    emit(
        ResponseCreatedEvent(
            type="response.created", response=_response([], "in_progress"), sequence_number=0
        )
    )
    emit(
        ResponseInProgressEvent(
            type="response.in_progress", response=_response([], "in_progress"), sequence_number=0
        )
    )
    for index, item in enumerate(output):
        if isinstance(item, ResponseFunctionToolCall):
            emit(
                ResponseOutputItemAddedEvent(
                    type="response.output_item.added",
                    output_index=index,
                    sequence_number=0,
                    item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
                )
            )
            emit(
                ResponseFunctionCallArgumentsDeltaEvent(
                    type="response.function_call_arguments.delta",
                    item_id=item.id or item.call_id,
                    output_index=index,
                    delta=item.arguments,
                    sequence_number=0,
                )
            )
            emit(
                ResponseFunctionCallArgumentsDoneEvent.model_validate(
                    {
                        "type": "response.function_call_arguments.done",
                        "item_id": item.id or item.call_id,
                        "output_index": index,
                        "arguments": item.arguments,
                        "name": item.name,
                        "sequence_number": 0,
                    }
                )
            )
        elif isinstance(item, ResponseOutputMessage):
            emit(
                ResponseOutputItemAddedEvent(
                    type="response.output_item.added",
                    output_index=index,
                    sequence_number=0,
                    item=item.model_copy(update={"content": [], "status": "in_progress"}),
                )
            )
            part = item.content[0]
            assert isinstance(part, ResponseOutputText)
            emit(
                ResponseContentPartAddedEvent(
                    type="response.content_part.added",
                    item_id=item.id,
                    output_index=index,
                    content_index=0,
                    sequence_number=0,
                    part=ResponseOutputText(type="output_text", text="", annotations=[]),
                )
            )
            for chunk in _chunks(part.text):
                emit(
                    ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        item_id=item.id,
                        output_index=index,
                        content_index=0,
                        delta=chunk,
                        logprobs=[],
                        sequence_number=0,
                    )
                )
            emit(
                ResponseTextDoneEvent(
                    type="response.output_text.done",
                    item_id=item.id,
                    output_index=index,
                    content_index=0,
                    text=part.text,
                    logprobs=[],
                    sequence_number=0,
                )
            )
            emit(
                ResponseContentPartDoneEvent(
                    type="response.content_part.done",
                    item_id=item.id,
                    output_index=index,
                    content_index=0,
                    part=part,
                    sequence_number=0,
                )
            )
        emit(
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                output_index=index,
                item=item,
                sequence_number=0,
            )
        )
    emit(
        ResponseCompletedEvent(
            type="response.completed",
            response=_response(list(output), "completed"),
            sequence_number=0,
        )
    )
    for number, event in enumerate(events):
        event.sequence_number = number
    return events
