"""The chat routes: one stateless turn per request, as JSON or as server-sent events.

Both routes run the same turn (`backend.chat.turn.begin_turn`, through the `ChatTurnDep`
dependency); the streaming one forwards its events:

    data: {"type": "start", "conversation_id": 12}
    data: {"type": "delta", "text": "Added "}
    data: {"type": "tool_call", "tool": "add_task", "parameters": {...}, "result": {...}}
    data: {"type": "done", "conversation_id": 12, "response": "...", "tool_calls": [...]}
    data: {"type": "error", "status": 503, "detail": "..."}     (instead of "done")
    data: [DONE]

An idle stream (a slow model) gets a `: ping` comment every 15 s, so proxies keep it open.
Errors known before the stream starts (401/403/404/409/422/429/503) are ordinary JSON errors,
answered from the one table in `backend.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Response
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from backend.api.chat_events import chat_event, replayed
from backend.api.errors import CHAT_ERRORS, as_json_errors, problem_response
from backend.chat.idempotency import REPLAYED_HEADERS, StoredAnswer
from backend.chat.turn import TurnFailed, TurnRequest, TurnRun, begin_turn
from backend.deps import (
    ChatModelDep,
    CurrentUser,
    PrincipalDep,
    RunningTurnsDep,
    SettingsDep,
    TaskServersDep,
    enforce_chat_rate_limit,
)
from backend.schemas import ChatRequest, ChatResponse

router = APIRouter(prefix="/api/{user_id}", tags=["chat"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retrying with the same key returns the first answer; tools run once.",
    ),
]


async def chat_turn(
    user_id: CurrentUser,
    principal: PrincipalDep,
    body: ChatRequest,
    model: ChatModelDep,
    settings: SettingsDep,
    task_servers: TaskServersDep,
    running: RunningTurnsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TurnRun | StoredAnswer:
    """The request's turn, started (it runs on even if the client goes away), or the stored
    answer of a retry. A stored failure is answered as it was the first time; every replay is
    marked `Idempotent-Replayed: true` (the streaming route's too, through `response`)."""
    request = TurnRequest(
        user_id=user_id,
        token=principal.token,
        message=body.message,
        conversation_id=body.conversation_id,
        idempotency_key=idempotency_key,
    )
    turn = await begin_turn(request, model=model, settings=settings, task_servers=task_servers)
    if isinstance(turn, StoredAnswer):
        if turn.status != 200:
            raise HTTPException(turn.status, turn.body.get("detail"), headers=REPLAYED_HEADERS)
        response.headers.update(REPLAYED_HEADERS)
    if isinstance(turn, TurnRun):
        running.add(turn)  # so that a cancel request on this process stops it at once
    return turn


ChatTurnDep = Annotated[TurnRun | StoredAnswer, Depends(chat_turn)]
RATE_LIMITED = [Depends(enforce_chat_rate_limit)]


@router.post("/chat", response_model=ChatResponse, dependencies=RATE_LIMITED)
async def chat(turn: ChatTurnDep) -> Any:
    """Send a message; the assistant answers, using the task tools as needed."""
    if isinstance(turn, StoredAnswer):
        return JSONResponse(turn.body, status_code=turn.status, headers=REPLAYED_HEADERS)
    outcome = await turn.result()
    if isinstance(outcome, TurnFailed):
        return problem_response(outcome.problem)
    return outcome.body()


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    dependencies=RATE_LIMITED,
    responses=as_json_errors(CHAT_ERRORS),
)
async def chat_stream(turn: ChatTurnDep) -> AsyncIterator[ServerSentEvent]:
    """The same turn as `/chat`, streamed as server-sent events."""
    if isinstance(turn, StoredAnswer):
        for stored in replayed(turn.body):
            yield ServerSentEvent(data=stored)
    else:
        async for event in turn.events():
            if (public := chat_event(event)) is not None:
                yield ServerSentEvent(data=public)
    yield ServerSentEvent(raw_data="[DONE]")
