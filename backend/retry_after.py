"""Every 503 carries `Retry-After`, whichever part of the app answered it.

A 503 means "try again later"; without the header clients guess (or retry at once, in a loop).
Answers that already name a time (a rate-limited provider: its own wait) keep theirs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_RETRY_AFTER_SECONDS = 5


class RetryAfterOn503Middleware:
    def __init__(self, app: ASGIApp, seconds: int = DEFAULT_RETRY_AFTER_SECONDS) -> None:
        self.app = app
        self.value = str(seconds).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    headers.append((b"retry-after", self.value))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)
