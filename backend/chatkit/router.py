"""`POST /chatkit`: one endpoint for every ChatKit request, as ChatKit's browser client sends them.

The user is the bearer token's (ChatKit requests carry no user id): 401 without a valid one.
Streaming requests answer `text/event-stream` (ChatKit's `data: {event}` lines); the others
answer JSON. Errors found before a stream starts are ordinary HTTP errors with `{"detail"}`:
401, 404 (no such thread for this user: another user's is not found either), 409, 422, 429,
503; the chat turn's own errors propagate to the app's handlers (`backend.errors`), so they
are answered exactly as on `/chat`. An unsupported request is answered with ChatKit's error
event (`{"type": "error", ...}`): in the stream for streaming requests, as a 400 JSON body for
the others.
"""

from __future__ import annotations

import logging
from typing import Any

from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import ErrorEvent
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from backend.api.chat import IdempotencyKey
from backend.chatkit.server import InvalidInputError, TodoChatKitServer, UnsupportedRequestError
from backend.chatkit.store import RequestContext
from backend.chatkit.turn import TurnServices
from backend.deps import (
    ChatModelDep,
    PrincipalDep,
    RateLimiterDep,
    SettingsDep,
    TaskServersDep,
    hit_chat_rate_limit,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["chatkit"])
server = TodoChatKitServer()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    # Where and why, never the rejected input itself.
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


def _error_event(message: str) -> bytes:
    event = ErrorEvent(code="custom", message=message, allow_retry=False)
    return event.model_dump_json(exclude_none=True).encode()


async def _single_event(payload: bytes) -> Any:
    yield b"data: " + payload + b"\n\n"


# ChatKit's request union is large and versioned by the package; the schema names its shape.
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type", "params"],
                "properties": {
                    "type": {"type": "string", "examples": ["threads.list", "threads.create"]},
                    "params": {"type": "object"},
                    "metadata": {"type": "object"},
                },
            }
        }
    },
}


@router.post(
    "/chatkit",
    response_class=Response,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses={
        200: {"content": {"text/event-stream": {}, "application/json": {}}},
        400: {"description": "A ChatKit request this server does not support (an error event)"},
        401: {"description": "Missing or invalid bearer token"},
        404: {"description": "No such thread (or item) for this user"},
        409: {"description": "A turn is running in this thread, or with this Idempotency-Key"},
        422: {"description": "Not a ChatKit request, an invalid message or title, or a reused key"},
        429: {"description": "Chat rate limit exceeded; see Retry-After"},
        503: {"description": "The database or the model is unavailable"},
    },
)
async def chatkit(
    request: Request,
    principal: PrincipalDep,
    settings: SettingsDep,
    model: ChatModelDep,
    task_servers: TaskServersDep,
    limiter: RateLimiterDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The ChatKit server protocol: threads are conversations, items are their messages.

    An `Idempotency-Key` makes a retried threads.create or threads.add_user_message replay the
    first answer instead of running the tools again, as on `/chat`.
    """
    context = RequestContext(
        user_id=principal.user_id,
        token=principal.token,
        services=TurnServices(model=model, settings=settings, task_servers=task_servers),
        idempotency_key=idempotency_key,
    )

    async def before_turn() -> None:  # only requests that run a turn count as chatting
        await hit_chat_rate_limit(principal.user_id, settings, limiter)

    try:
        result = await server.handle(await request.body(), context, before_turn)
    except ValidationError as exc:
        return JSONResponse({"detail": _problems(exc)}, status_code=422)
    except NotFoundError as exc:
        return JSONResponse({"detail": str(exc) or "Not found"}, status_code=404)
    except InvalidInputError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    except UnsupportedRequestError as exc:
        if exc.streaming:
            return StreamingResponse(
                _single_event(_error_event(str(exc))),
                media_type="text/event-stream",
                headers=SSE_HEADERS,
            )
        return Response(_error_event(str(exc)), status_code=400, media_type="application/json")
    if isinstance(result, StreamingResult):
        return StreamingResponse(result, media_type="text/event-stream", headers=SSE_HEADERS)
    return Response(result.json, media_type="application/json")
