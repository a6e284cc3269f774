"""Per-user rate limit on MCP calls: `API_RATE_LIMIT` requests per user per minute.

Direct MCP clients (an inspector, a desktop client, a script holding a token) reach the task
service without the API in between, so the limit is enforced here too, per token subject, with
the API's machinery (in this process, or shared through Redis when `REDIS_URL` is set). The
API's own tool calls count under the user's name in a separate window ("mcp:" keys), so a
user's chat turns are not starved by their REST use or the other way round.

A request without a valid token passes through: the SDK's bearer middleware answers it 401.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from backend.auth import AuthError, bearer_token, verify_token_async
from backend.config import Settings
from backend.ratelimit import build_rate_limiter, retry_after_header


class PerUserRateLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.limiter = build_rate_limiter(settings, settings.api_rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.settings.api_rate_limit <= 0:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
            user_id = (await verify_token_async(token, self.settings)).user_id
        except AuthError:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.hit(f"mcp:{user_id}")
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32000, "message": "Too many requests; see Retry-After"},
            }
        ).encode()
        extra = [(k.lower().encode(), v.encode()) for k, v in retry_after_header(decision).items()]
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
