"""FastAPI dependencies: the app's settings and long-lived clients, the database session, the
authenticated user, the chat rate limit.

The long-lived objects are built once by the app's lifespan (`backend.main`) and kept on
`app.state`; routes read them only through the aliases here, and tests replace them with
`app.dependency_overrides` (e.g. `get_chat_model` for a scripted model).
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, cast

from agents import Model
from fastapi import Depends, HTTPException, Path, Request, status
from sqlmodel import Session
from starlette.requests import HTTPConnection

from backend.auth import AuthError, Principal, bearer_token, verify_token_async
from backend.chat import idempotency
from backend.chat.mcp_client import TaskServerClient
from backend.chat.providers import ModelProvider, ModelUnavailableError
from backend.chat.running import RunningTurns
from backend.chat.sockets import SocketConnections
from backend.config import Settings
from backend.db import get_session, session_scope
from backend.dbwork import database_work
from backend.observability.metrics import count_rate_limited
from backend.ratelimit import RateLimiter, RateLimitExceeded

log = logging.getLogger(__name__)

SessionDep = Annotated[Session, Depends(get_session)]
IDEMPOTENCY_KEY_MAX = 255  # the chat routes' header limit: a longer key can have no answer


# The app's objects are read through `HTTPConnection`, so the WebSocket route gets them too.
# The dependencies below are `async def` on purpose: they are CPU-only and take microseconds,
# while FastAPI runs every plain `def` dependency on a worker thread (a thread hand-off each,
# three per request, which a busy machine turns into milliseconds).
async def current_settings(request: HTTPConnection) -> Settings:
    """The settings the app was created with (`create_app(settings)`)."""
    return cast(Settings, request.app.state.settings)


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def get_rate_limiter(request: HTTPConnection) -> RateLimiter:
    return cast(RateLimiter, request.app.state.rate_limiter)


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


async def get_model_provider(request: HTTPConnection) -> ModelProvider:
    return cast(ModelProvider, request.app.state.model_provider)


ModelProviderDep = Annotated[ModelProvider, Depends(get_model_provider)]


async def get_chat_model(provider: ModelProviderDep) -> Model:
    """The turn's model, built before the conversation is claimed (a failure changes nothing)."""
    try:
        return provider.model()
    except Exception as exc:
        log.exception("the chat model could not be created")
        raise ModelUnavailableError from exc


ChatModelDep = Annotated[Model, Depends(get_chat_model)]


async def get_task_servers(request: HTTPConnection) -> TaskServerClient:
    return cast(TaskServerClient, request.app.state.task_servers)


TaskServersDep = Annotated[TaskServerClient, Depends(get_task_servers)]


async def get_socket_connections(request: HTTPConnection) -> SocketConnections:
    return cast(SocketConnections, request.app.state.socket_connections)


SocketConnectionsDep = Annotated[SocketConnections, Depends(get_socket_connections)]


async def get_running_turns(request: HTTPConnection) -> RunningTurns:
    return cast(RunningTurns, request.app.state.running_turns)


RunningTurnsDep = Annotated[RunningTurns, Depends(get_running_turns)]


async def get_principal(request: Request, settings: SettingsDep) -> Principal:
    try:
        token = bearer_token(request.headers.get("authorization"))
        principal = await verify_token_async(token, settings)
    except AuthError as exc:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=str(exc),
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc
    request.state.user_id = principal.user_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_path_user(
    user_id: Annotated[str, Path(max_length=128)], principal: PrincipalDep
) -> str:
    """The `{user_id}` of the path, which must be the token's user: 403 otherwise."""
    if user_id != principal.user_id:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="Token does not belong to this user"
        )
    return user_id


CurrentUser = Annotated[str, Depends(get_path_user)]


async def _replays_stored_answer(request: Request, user_id: str) -> bool:
    """A retry whose first answer is stored gets that answer even over the limit: the client
    did nothing wrong by retrying, and a replay runs neither the model nor a tool."""
    key = request.headers.get("idempotency-key")
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        return False

    def lookup() -> bool:
        with session_scope() as session:
            return idempotency.has_stored_answer(session=session, user_id=user_id, key=key)

    return await database_work().run(lookup)


async def enforce_chat_rate_limit(
    request: Request, user_id: CurrentUser, settings: SettingsDep, limiter: RateLimiterDep
) -> None:
    """Route dependency: RateLimitExceeded (429 with `Retry-After`) when over the chat limit.

    It depends on the authenticated path user, so a request without a valid token is a 401 and
    costs nothing.
    """
    await hit_chat_rate_limit(user_id, settings, limiter, request)


async def hit_chat_rate_limit(
    user_id: str, settings: Settings, limiter: RateLimiter, request: Request | None = None
) -> None:
    """Count one chat turn of `user_id`: RateLimitExceeded when over the limit (unless the
    request is an idempotent retry with a stored answer). For routes that know only later
    whether a request is a turn (`/chatkit`) too."""
    if settings.chat_rate_limit <= 0:
        return
    decision = await limiter.hit(f"chat:{user_id}")
    if decision.allowed:
        return
    if request is None or not await _replays_stored_answer(request, user_id):
        count_rate_limited("chat")
        raise RateLimitExceeded(max(1, math.ceil(decision.retry_after)))
