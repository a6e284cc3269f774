"""A 401 from the MCP server that says how to get in: a fresh token from `todo-agent token`.

The SDK answers a missing, expired or forged bearer token with a correct but bare 401
("Authentication required"). Clients such as MCP Inspector then try an OAuth flow this server
does not run and report "Dynamic Client Registration rejected", which points nowhere. This ASGI
wrapper keeps the status, the RFC 6750 `WWW-Authenticate: Bearer error="invalid_token"` and the
JSON body's keys, and replaces only the description with the fix.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HINT = (
    "A valid bearer token is required (missing, expired or not signed with this server's secret). "
    "Create a fresh one with `todo-agent token USER_ID` and send it as "
    "'Authorization: Bearer <token>' (MCP Inspector: --header 'Authorization: Bearer <token>')"
)
# A quoted-string in a header: no double quotes inside.
CHALLENGE = (
    'Bearer error="invalid_token", error_description="missing, expired or invalid token; '
    'create a fresh one with `todo-agent token USER_ID`"'
)


class TokenHintOn401:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # the 401's start, sent once its body is replaced

        async def send_with_hint(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 401:
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            if message.get("more_body", False):
                return  # the SDK's own description, dropped
            body = json.dumps({"error": "invalid_token", "error_description": TOKEN_HINT}).encode()
            replaced = (b"content-length", b"www-authenticate", b"content-type")
            headers = [(k, v) for k, v in held.get("headers", []) if k.lower() not in replaced]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", CHALLENGE.encode()),
            ]
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            held = None

        await self.app(scope, receive, send_with_hint)
