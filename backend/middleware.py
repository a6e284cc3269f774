"""ASGI middleware: request ids, one log line per request, a body size limit, no leaked errors.

Written as plain ASGI (not BaseHTTPMiddleware) so streaming responses pass straight through.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.logs import request_id_var

log = logging.getLogger("backend.request")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TOO_LARGE = "Request body too large"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body outgrows the limit.

    An HTTPException so that FastAPI passes it on while it reads a body: it turns any other
    exception there into "400 There was an error parsing the body" (a chunked upload with no
    Content-Length would get 400 instead of 413).
    """

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE)


async def _send_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status_code = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            declared = headers.get(b"content-length")
            if declared is not None and (
                not declared.isdigit() or int(declared) > self.max_body_bytes
            ):
                status_code = 413
                await _send_json(send, 413, TOO_LARGE, [id_header])
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise BodyTooLarge
                return message

            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            if not response_started:
                status_code = 413
                await _send_json(send, 413, TOO_LARGE, [id_header])
        except Exception:
            log.exception("unhandled error")
            if not response_started:
                status_code = 500
                await _send_json(send, 500, "Internal server error", [id_header])
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)
