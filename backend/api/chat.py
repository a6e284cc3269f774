"""The chat routes: one stateless turn per request, as JSON or as server-sent events.

Both routes run the same turn (`backend.chat.turn`); the streaming one forwards its events:

    data: {"type": "start", "conversation_id": 12}
    data: {"type": "delta", "text": "Added "}
    data: {"type": "tool_call", "tool": "add_task", "parameters": {...}, "result": {...}}
    data: {"type": "done", "conversation_id": 12, "response": "...", "tool_calls": [...]}
    data: {"type": "error", "status": 503, "detail": "..."}     (instead of "done")
    data: [DONE]

Errors known before the stream starts (401/403/404/409/422/429/503) are ordinary JSON errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from agents import Model
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from backend.chat.agent import chat_model
from backend.chat.idempotency import StoredAnswer
from backend.chat.keepalive import KEEPALIVE, with_keepalive
from backend.chat.turn import (
    TextDelta,
    ToolCalled,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnRejectedError,
    TurnRequest,
    TurnStarted,
    prepare_turn,
    start_turn,
)
from backend.deps import CurrentUser, PrincipalDep, SettingsDep
from backend.models import clean_text
from backend.ratelimit import enforce_chat_rate_limit

MESSAGE_MAX = 4000

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/{user_id}", tags=["chat"])


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


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retrying with the same key returns the first answer; tools run once.",
    ),
]


async def _prepare(
    user_id: str, principal: Any, body: ChatRequest, key: str | None, settings: Any
) -> Any:
    request = TurnRequest(
        user_id=user_id,
        token=principal.token,
        message=body.message,
        conversation_id=body.conversation_id,
        idempotency_key=key,
    )
    try:
        return await prepare_turn(request, settings)
    except TurnRejectedError as exc:
        raise HTTPException(exc.status, exc.detail, headers=exc.headers) from None


def _model(request: Request) -> Model:
    """The turn's model, built before the conversation is claimed (a failure changes nothing)."""
    try:
        return chat_model(request.app)
    except Exception:
        log.exception("the chat model could not be created")
        raise HTTPException(503, "The model is not available; check the MODEL settings") from None


def _stored_error(answer: StoredAnswer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status)


@router.post(
    "/chat",
    response_model=ChatResponse,
    dependencies=[Depends(enforce_chat_rate_limit)],
    responses={409: {"description": "A turn is already running in this conversation"}},
)
async def chat(
    user_id: CurrentUser,
    principal: PrincipalDep,
    body: ChatRequest,
    http_request: Request,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Send a message; the assistant answers, using the task tools as needed."""
    model = _model(http_request)
    prepared = await _prepare(user_id, principal, body, idempotency_key, settings)
    if isinstance(prepared, StoredAnswer):
        return _stored_error(prepared)
    outcome = await start_turn(prepared, model, settings).result()
    if isinstance(outcome, TurnFailed):
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
        raise HTTPException(outcome.status, outcome.detail, headers=headers)
    return outcome.body()


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _event_payload(event: TurnEvent) -> dict[str, Any]:
    if isinstance(event, TurnStarted):
        return {"type": "start", "conversation_id": event.conversation_id}
    if isinstance(event, TextDelta):
        return {"type": "delta", "text": event.text}
    if isinstance(event, ToolCalled):
        return {"type": "tool_call", **event.call.public()}
    if isinstance(event, TurnDone):
        return {"type": "done", **event.body()}
    error: dict[str, Any] = {"type": "error", "status": event.status, "detail": event.detail}
    if event.retry_after:
        error["retry_after"] = event.retry_after
    return error


async def _live(events: AsyncIterator[TurnEvent]) -> AsyncIterator[dict[str, Any]]:
    async for event in events:
        yield _event_payload(event)


async def _replayed(body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """A stored answer as the events it was first streamed as (its text in one delta)."""
    yield {"type": "start", "conversation_id": body["conversation_id"]}
    for call in body["tool_calls"]:
        yield {"type": "tool_call", **call}
    if body["response"]:
        yield {"type": "delta", "text": body["response"]}
    yield {"type": "done", **body}


async def _stream(payloads: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    # While the model thinks (or a retry waits), comment lines keep proxies from closing it.
    async for payload in with_keepalive(payloads):
        yield KEEPALIVE if payload is None else _sse(payload)
    yield "data: [DONE]\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/chat/stream",
    response_class=StreamingResponse,
    dependencies=[Depends(enforce_chat_rate_limit)],
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_stream(
    user_id: CurrentUser,
    principal: PrincipalDep,
    body: ChatRequest,
    http_request: Request,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The same turn as `/chat`, streamed as server-sent events."""
    model = _model(http_request)
    prepared = await _prepare(user_id, principal, body, idempotency_key, settings)
    if isinstance(prepared, StoredAnswer):
        if prepared.status != 200:
            return _stored_error(prepared)
        return StreamingResponse(
            _stream(_replayed(prepared.body)), media_type="text/event-stream", headers=SSE_HEADERS
        )
    # Started before the response is returned: the turn runs even if the client is already gone.
    run = start_turn(prepared, model, settings)
    return StreamingResponse(
        _stream(_live(run.events())), media_type="text/event-stream", headers=SSE_HEADERS
    )
