"""FastAPI dependencies: the database session and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from sqlmodel import Session

from backend.auth import AuthError, Principal, bearer_token, verify_token_async
from backend.config import Settings, get_settings
from backend.db import get_session

SessionDep = Annotated[Session, Depends(get_session)]


# The dependencies below are `async def` on purpose: they are CPU-only and take microseconds,
# while FastAPI runs every plain `def` dependency on a worker thread (a thread hand-off each,
# three per request, which a busy machine turns into milliseconds).
async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


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
