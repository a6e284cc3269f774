"""`WS /api/{user_id}/chat/ws`: the chat over one long-lived connection, with cancel.

The same turn as `/chat` and `/chat/stream` (`begin_turn`: claim, history, MCP tools with the
caller's token, idempotency, storage, errors), its events serialised the same way
(`backend.api.chat_events`). The protocol is in docs/websocket.md; in short:

    client → server   {"type": "auth", "token": ...}          (unless given as subprotocol)
                      {"type": "message", "message": ..., "conversation_id"?, "idempotency_key"?}
                      {"type": "cancel"}                       (stop the running turn)
                      {"type": "ping"}
    server → client   {"type": "connection", "accepted": true, "user_id": ..., "limits": {...}}
                      {"type": "typing", "state": "thinking" | "tool", "tool"?: ...}
                      start / delta / tool_call / done / error  (as on /chat/stream)
                      {"type": "pong"}

The token comes as the `bearer, <token>` subprotocol (the `bearer` one is echoed) or in a first
`auth` frame within `WS_AUTH_TIMEOUT_SECONDS`; never in the URL, which ends up in logs. Close
codes: 4401 no/invalid/expired token, 4403 another user's token or a foreign `Origin`, 4408 idle,
4429 too many connections for the user. A client that goes away mid-turn does not stop the turn:
it finishes and is stored, as on the other routes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, WebSocket
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from backend.api.chat_events import chat_event, replayed
from backend.auth import LEEWAY_SECONDS, AuthError, Principal, verify_token_async
from backend.chat.idempotency import StoredAnswer
from backend.chat.mcp_client import TaskServerClient
from backend.chat.providers import ModelProvider
from backend.chat.running import RunningTurns
from backend.chat.turn import ToolStarted, TurnRequest, TurnRun, TurnStarted, begin_turn
from backend.config import Settings
from backend.deps import (
    ModelProviderDep,
    RateLimiterDep,
    RunningTurnsDep,
    SettingsDep,
    SocketConnectionsDep,
    TaskServersDep,
    get_chat_model,
)
from backend.errors import Problem, problem_for
from backend.ratelimit import RateLimiter, RateLimitExceeded
from backend.schemas import (
    AuthFrame,
    CancelFrame,
    ClientFrame,
    ConnectionEvent,
    ErrorEvent,
    MessageFrame,
    PingFrame,
    PongEvent,
    SocketLimits,
    TypingEvent,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/{user_id}", tags=["chat"])

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
IDLE = 4408
TOO_MANY = 4429
BEARER = "bearer"

FRAMES: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
clock = time.time  # what token expiry is checked against (tests move it forward)


class Refused(Exception):
    """Close the socket with `code` and `reason` (a short sentence for the client)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """No Origin (not a browser), one of `CORS_ORIGINS`, or the page's own origin."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    if origin in settings.cors_origins:
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


def _offered_token(websocket: WebSocket) -> str | None:
    offered: list[str] = websocket.scope.get("subprotocols") or []
    if len(offered) == 2 and offered[0] == BEARER:
        return offered[1]
    return None


async def _verify(token: str, user_id: str, settings: Settings) -> Principal:
    try:
        principal = await verify_token_async(token, settings)
    except AuthError as exc:
        raise Refused(UNAUTHENTICATED, str(exc)) from exc
    if principal.user_id != user_id:
        raise Refused(FORBIDDEN, "Token does not belong to this user")
    return principal


async def _first_frame_token(websocket: WebSocket, settings: Settings) -> str:
    try:
        async with asyncio.timeout(settings.ws_auth_timeout_seconds):
            text = await websocket.receive_text()
    except TimeoutError as exc:
        raise Refused(UNAUTHENTICATED, "No token: send an auth frame first") from exc
    try:
        frame = FRAMES.validate_json(text)
    except ValidationError as exc:
        raise Refused(UNAUTHENTICATED, "The first frame must be an auth frame") from exc
    if not isinstance(frame, AuthFrame):
        raise Refused(UNAUTHENTICATED, "The first frame must be an auth frame")
    return frame.token


@router.websocket("/chat/ws")
async def chat_ws(
    websocket: WebSocket,
    user_id: Annotated[str, Path(max_length=128)],
    settings: SettingsDep,
    models: ModelProviderDep,
    task_servers: TaskServersDep,
    limiter: RateLimiterDep,
    connections: SocketConnectionsDep,
    running: RunningTurnsDep,
) -> None:
    """The chat channel; see the module docstring and docs/websocket.md."""
    token = _offered_token(websocket)
    # Accept first (echoing `bearer` when offered, or a browser drops the connection), so that a
    # refusal reaches the client as a close code with a reason rather than a bare HTTP 403.
    await websocket.accept(subprotocol=BEARER if token is not None else None)
    counted = False
    try:
        if not _origin_allowed(websocket, settings):
            raise Refused(FORBIDDEN, "Origin not allowed")
        if token is None:
            token = await _first_frame_token(websocket, settings)
        principal = await _verify(token, user_id, settings)
        if not connections.open(user_id, settings.ws_max_connections_per_user):
            raise Refused(TOO_MANY, "Too many open chat connections")
        counted = True
        channel = ChatChannel(
            websocket, principal, settings, models, task_servers, limiter, running
        )
        await channel.serve()
    except Refused as refused:
        await _close(websocket, refused.code, refused.reason)
    except WebSocketDisconnect:
        pass  # gone; a running turn goes on by itself
    finally:
        if counted:
            connections.close(user_id)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code=code, reason=reason)
    except (RuntimeError, OSError):
        pass  # already closed by the client


class ChatChannel:
    """One authenticated connection: reads frames, runs at most one turn at a time, forwards
    its events. The turn runs in its own task (`TurnRun`), so it outlives the connection."""

    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        settings: Settings,
        models: ModelProvider,
        task_servers: TaskServerClient,
        limiter: RateLimiter,
        running: RunningTurns,
    ) -> None:
        self.websocket, self.principal, self.settings = websocket, principal, settings
        self.models, self.task_servers, self.limiter = models, task_servers, limiter
        self.running = running
        self.turn: TurnRun | None = None
        self._forwarding: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._forwarding is not None and not self._forwarding.done()

    async def serve(self) -> None:
        await self.send(
            ConnectionEvent(
                user_id=self.principal.user_id,
                limits=SocketLimits(
                    max_message_bytes=self.settings.ws_max_message_bytes,
                    idle_timeout_seconds=self.settings.ws_idle_timeout_seconds,
                    chat_rate_limit_per_minute=self.settings.chat_rate_limit,
                    max_connections=self.settings.ws_max_connections_per_user,
                ),
            )
        )
        try:
            while True:
                try:
                    async with asyncio.timeout(self.settings.ws_idle_timeout_seconds):
                        message = await self.websocket.receive()
                except TimeoutError:
                    if self.busy:
                        continue  # a slow turn is not an idle client
                    raise Refused(IDLE, "Idle for too long; reconnect to chat again") from None
                if message["type"] == "websocket.disconnect":
                    return
                await self.handle(message.get("text"), message.get("bytes"))
        finally:
            if self._forwarding is not None:
                # Only the forwarding stops; the turn itself runs on and is stored.
                self._forwarding.cancel()

    async def handle(self, text: str | None, data: bytes | None) -> None:
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > self.settings.ws_max_message_bytes:
            limit = self.settings.ws_max_message_bytes
            await self.error(Problem(413, f"Frame larger than {limit} bytes"))
            return
        if text is None:
            await self.error(Problem(422, "Frames are JSON text"))
            return
        try:
            frame = FRAMES.validate_json(text)
        except ValidationError as exc:
            frame = None
            invalid = _invalid(exc)
        if isinstance(frame, AuthFrame):  # a fresh token for the same user, even once expired
            self.principal = await _verify(frame.token, self.principal.user_id, self.settings)
            return
        if self.principal.expires_at + LEEWAY_SECONDS < clock():
            raise Refused(UNAUTHENTICATED, "Token expired")
        if frame is None:
            await self.error(Problem(422, invalid))
        elif isinstance(frame, PingFrame):
            await self.send(PongEvent())
        elif isinstance(frame, CancelFrame):
            await self.cancel()
        elif isinstance(frame, MessageFrame):
            await self.start(frame)

    async def cancel(self) -> None:
        if self.turn is None or not self.busy:
            await self.error(Problem(409, "No reply is being written"))
            return
        self.turn.cancel()  # its `done` event (a stopped reply) follows on the forwarder

    async def start(self, frame: MessageFrame) -> None:
        if self.busy:
            await self.error(Problem(409, "A reply is still being written; cancel it or wait"))
            return
        try:
            await self._check_rate_limit()
            # A model per turn, as on the HTTP routes (ModelUnavailableError: a 503 error frame).
            model = await get_chat_model(self.models)
            turn = await begin_turn(
                TurnRequest(
                    user_id=self.principal.user_id,
                    token=self.principal.token,
                    message=frame.message,
                    conversation_id=frame.conversation_id,
                    idempotency_key=frame.idempotency_key,
                ),
                model=model,
                settings=self.settings,
                task_servers=self.task_servers,
            )
        except Exception as exc:  # mapped as on the HTTP routes (409, 404, 429, 503, ...)
            problem = problem_for(exc)
            if problem.status >= 500:
                log.warning("a WebSocket chat turn could not start", exc_info=True)
            await self.error(problem)
            return
        if isinstance(turn, StoredAnswer):
            if turn.status != 200:
                await self.error(Problem(turn.status, str(turn.body.get("detail"))))
            else:
                for event in replayed(turn.body):
                    await self.send(event)
            return
        self.turn = self.running.add(turn)
        self._forwarding = asyncio.create_task(self._forward(turn))

    async def _check_rate_limit(self) -> None:
        if self.settings.chat_rate_limit <= 0:
            return
        decision = await self.limiter.hit(f"chat:{self.principal.user_id}")
        if not decision.allowed:
            raise RateLimitExceeded(max(1, int(decision.retry_after + 0.999)))

    async def _forward(self, turn: TurnRun) -> None:
        try:
            await self._send_events(turn)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away: the turn runs on and is stored without it

    async def _send_events(self, turn: TurnRun) -> None:
        async for event in turn.events():
            if isinstance(event, ToolStarted):
                await self.send(TypingEvent(state="tool", tool=event.tool))
                continue
            public = chat_event(event)
            if public is not None:
                await self.send(public)
            if isinstance(event, TurnStarted):
                await self.send(TypingEvent(state="thinking"))

    async def error(self, problem: Problem) -> None:
        await self.send(ErrorEvent(status=problem.status, detail=problem.detail))

    async def send(self, event: BaseModel) -> None:
        async with self._send_lock:  # the forwarder and the reader both send
            await self.websocket.send_text(event.model_dump_json())


def _invalid(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "frame"
    return f"Invalid frame: {where}: {first['msg']}"
