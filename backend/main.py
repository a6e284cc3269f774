"""The FastAPI application."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import __version__
from backend.api import chat, conversations, health, tasks, web
from backend.config import Settings, get_settings
from backend.environment import neutralise_empty_variables
from backend.middleware import RequestContextMiddleware
from backend.retry_after import RetryAfterOn503Middleware

log = logging.getLogger("backend")


class ErrorDetail(BaseModel):
    detail: str


def _error(description: str) -> dict:
    return {"model": ErrorDetail, "description": description}


# Declared in the OpenAPI schema so clients (and the schemathesis fuzz tests) know every answer.
API_ERRORS: dict[int | str, dict] = {
    400: _error("The body could not be parsed (not JSON, or not UTF-8)"),
    401: _error("Missing or invalid bearer token"),
    403: _error("The token belongs to another user than the path"),
    404: _error("No such task or conversation for this user"),
    413: _error("Request body too large"),
    503: _error("The database (or, for chat, the model or the task server) is unavailable"),
}


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ChatInputError(BaseModel):
    """Invalid input (a list of problems), or an Idempotency-Key reused for another request."""

    detail: list[ValidationProblem] | str


CHAT_ERRORS = {
    **API_ERRORS,
    422: {"model": ChatInputError, "description": "Invalid input or a reused Idempotency-Key"},
    409: _error("A turn is already running in this conversation"),
    429: _error("Chat rate limit exceeded; see Retry-After"),
}


def _validation_errors(exc: RequestValidationError) -> list[dict]:
    # Echo where and why, never the rejected input itself (it may be huge or hold a secret).
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(_validation_errors(exc))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable", extra={"error_type": type(exc.orig).__name__})
        return JSONResponse(
            {"detail": "The database is unavailable; try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(SQLAlchemyError)
    async def _db_error(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("database error", extra={"error_type": type(exc).__name__})
        return JSONResponse({"detail": "Internal server error"}, status_code=500)


def create_app(settings: Settings | None = None) -> FastAPI:
    neutralise_empty_variables()  # "" means "not set", for the libraries too
    settings = settings or get_settings()
    app = FastAPI(title="Todo agent", version=__version__)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(tasks.router, responses=API_ERRORS)
    app.include_router(chat.router, responses=CHAT_ERRORS)
    app.include_router(conversations.router, responses=API_ERRORS)
    app.include_router(web.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RetryAfterOn503Middleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
