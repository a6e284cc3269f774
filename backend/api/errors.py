"""The HTTP edge of every failure: the exception handlers, and the error answers in OpenAPI.

Domain errors become answers through the one table in `backend.errors`; a handler here only
writes that answer (and logs the database ones, which an operator must see).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.chat.cancel import NoTurnRunningError
from backend.chat.idempotency import KeyReusedError, KeyStillRunningError
from backend.chat.mcp_client import TaskServerError
from backend.chat.providers import ModelUnavailableError
from backend.chat.store import ConversationNotFoundError, TurnInProgressError
from backend.content_type import explain_content_type
from backend.dbwork import DatabaseBusyError
from backend.errors import Problem, problem_for
from backend.ratelimit import RateLimitExceeded
from backend.schemas import ChatInputError, ErrorDetail
from backend.tasks import TaskNotFoundError

log = logging.getLogger("backend")

# The domain errors a route lets through to be answered from the table.
DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    TaskNotFoundError,
    ConversationNotFoundError,
    TurnInProgressError,
    NoTurnRunningError,
    KeyStillRunningError,
    KeyReusedError,
    RateLimitExceeded,
    TaskServerError,
    ModelUnavailableError,
    DatabaseBusyError,
)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


# Declared in the OpenAPI schema so clients (and the schemathesis fuzz tests) know every answer.
API_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be parsed (not JSON, or not UTF-8)"),
    401: _error("Missing or invalid bearer token"),
    403: _error("The token belongs to another user than the path"),
    404: _error("No such task or conversation for this user"),
    413: _error("Request body too large"),
    429: _error("Too many requests (API_RATE_LIMIT, or too many at once); see Retry-After"),
    503: _error("The database (or, for chat, the model or the task server) is unavailable"),
}

CHAT_ERRORS: dict[int | str, dict[str, Any]] = {
    **API_ERRORS,
    422: {"model": ChatInputError, "description": "Invalid input or a reused Idempotency-Key"},
    409: _error("A turn is already running in this conversation"),
    429: _error("Chat rate limit exceeded; see Retry-After"),
}


def as_json_errors(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The same error answers for a route whose own media type is not JSON (the SSE route):
    FastAPI would otherwise document them under the route's media type."""
    return {
        status: {
            "description": doc["description"],
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{doc['model'].__name__}"}
                }
            },
        }
        for status, doc in responses.items()
    }


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        {"detail": problem.detail}, status_code=problem.status, headers=dict(problem.headers)
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echo where and why, never the rejected input itself (it may be huge or hold a secret).
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = explain_content_type(request.headers.get("content-type"), _validation_errors(exc))
    return JSONResponse({"detail": jsonable_encoder(problems)}, status_code=422)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(problem_for(exc))


async def _database(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OperationalError):
        log.error("database unavailable", extra={"error_type": type(exc.orig).__name__})
    else:
        log.error("database error", extra={"error_type": type(exc).__name__})
    return problem_response(problem_for(exc))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    for error in DOMAIN_ERRORS:
        app.add_exception_handler(error, _domain)
    app.add_exception_handler(SQLAlchemyError, _database)
