"""A loopback fake of an OpenAI-compatible server: `POST /v1/chat/completions`, plain and streamed.

It speaks real HTTP, so the real `openai` client and the Agents SDK's `OpenAIChatCompletionsModel`
run unchanged against it. What it answers:

- a scripted queue, consumed one item per request: `tool_call(name, args)` / `tool_calls(...)`,
  `text("...")`, `error(500)`, `MALFORMED`, `HANG`;
- when the queue is empty, a default rule: if the last message is the user's, call the configured
  tool (default `add_task` with `{"title": "<the user's message>"}`) when the request offers it;
  if the last message is a tool result, answer with text that quotes it;
- a sticky failure mode (`fail_with(...)`) that answers every request the same way until cleared.

Every request body is recorded (`fake.requests`), so tests can assert what the model was shown.
A per-call `delay` is an `asyncio.sleep`: many concurrent calls overlap, nothing blocks.

As a pytest fixture: `with FakeOpenAI.running() as fake: ...` (`fake.base_url` ends in `/v1`).
Standalone (for the benchmarks):

    python -m tests.support.fake_openai --port 9100 --delay 1.0 [--tool add_task] [--args '{"title": "{message}"}']
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.processes import free_port

# --- what a scripted answer can be ----------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """One model answer: text, tool calls, or both."""

    text: str | None = None
    calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Failure:
    """An HTTP error, a malformed body, or a hang (no answer for `seconds`)."""

    kind: str  # "status" | "malformed" (not JSON) | "garbage" (JSON, not a completion) | "hang"
    status: int = 500
    seconds: float = 30.0


def text(content: str) -> Answer:
    return Answer(text=content)


def tool_call(name: str, arguments: dict[str, Any] | None = None) -> Answer:
    return Answer(calls=(ToolCall(name, arguments or {}),))


def tool_calls(*calls: tuple[str, dict[str, Any]]) -> Answer:
    return Answer(calls=tuple(ToolCall(name, args) for name, args in calls))


def error(status: int = 500) -> Failure:
    return Failure("status", status=status)


MALFORMED = Failure("malformed")
GARBAGE = Failure("garbage")
HANG = Failure("hang")

Scripted = Answer | Failure


# --- the server state -----------------------------------------------------------------------


def _fill(template: Any, message: str) -> Any:
    """The argument template with `{message}` replaced by the user's message, recursively."""
    if isinstance(template, str):
        return template.replace("{message}", message)
    if isinstance(template, dict):
        return {key: _fill(value, message) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, message) for value in template]
    return template


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


@dataclass
class FakeOpenAI:
    delay: float = 0.0
    default_tool: str | None = "add_task"
    default_arguments: dict[str, Any] = field(default_factory=lambda: {"title": "{message}"})
    # A tiny Retry-After on error answers keeps the client's one retry fast in tests.
    retry_after_ms: int = 1
    # Every request body, for assertions. Off for long benchmark runs (memory stays flat).
    record: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Scripted] = deque()
        self._sticky: Failure | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # how many calls overlapped at most: proof that none blocks

    # -- scripting (thread-safe: tests run in another thread than the server) --

    def script(self, *items: Scripted) -> FakeOpenAI:
        with self._lock:
            self._queue.extend(items)
        return self

    def fail_with(self, failure: Failure | None) -> FakeOpenAI:
        """Answer every request with `failure` until called with None."""
        with self._lock:
            self._sticky = failure
        return self

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._sticky = None
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def service_env(self, **extra: str) -> dict[str, str]:
        """The settings that point a `todo-agent api` at this server, plus `extra`."""
        return {
            "MODEL": "fake-model",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": "sk-test",
            **extra,
        }

    def _next(self, body: dict[str, Any]) -> Scripted:
        with self._lock:
            if self.record:
                self.requests.append(copy.deepcopy(body))
            if self._sticky is not None:
                return self._sticky
            if self._queue:
                return self._queue.popleft()
        return self._default_answer(body)

    def _default_answer(self, body: dict[str, Any]) -> Answer:
        messages = body.get("messages") or [{}]
        last = messages[-1]
        if last.get("role") == "tool":
            return text(f"Done. The tool said: {_content_text(last.get('content'))}")
        offered = {tool.get("function", {}).get("name") for tool in body.get("tools") or []}
        message = _content_text(last.get("content"))
        tool = self.default_tool
        if last.get("role") == "user" and tool is not None and tool in offered:
            return tool_call(tool, _fill(self.default_arguments, message))
        return text(f"You said: {message}")

    # -- HTTP --

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "invalid JSON body"}}, status_code=400)
        answer = self._next(body)
        self.in_flight += 1  # only touched on the server's event loop
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if isinstance(answer, Failure):
            return await self._failure(answer, stream=bool(body.get("stream")))
        model = body.get("model", "fake")
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(_chunks(answer, model, include_usage)), media_type="text/event-stream"
            )
        return JSONResponse(_completion(answer, model))

    async def _failure(self, failure: Failure, stream: bool) -> Response:
        if failure.kind == "hang":
            # Stopping the server releases a hang at once (no cancelled-task noise at shutdown).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released().wait(), failure.seconds)
            return JSONResponse(_completion(text("too late"), "fake"))
        if failure.kind == "garbage":
            nonsense = {"object": "not.a.completion", "data": 42}
            if stream:
                return StreamingResponse(
                    iter([f"data: {json.dumps(nonsense)}\n\n", "data: [DONE]\n\n"]),
                    media_type="text/event-stream",
                )
            return JSONResponse(nonsense)
        if failure.kind == "malformed":
            if stream:
                return StreamingResponse(
                    iter(['data: {"id": "x", "choices": [{\n\n', "data: [DONE]\n\n"]),
                    media_type="text/event-stream",
                )
            return Response('{"id": "x", "choices": [', media_type="application/json")
        return JSONResponse(
            {"error": {"message": f"fake upstream error {failure.status}", "type": "server_error"}},
            status_code=failure.status,
            headers={"retry-after-ms": str(self.retry_after_ms)},
        )

    async def _models(self, _: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    # -- running it --

    def server_config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # A hanging answer must not keep the test waiting at shutdown.
            timeout_graceful_shutdown=1,
            backlog=2048,
        )

    def start(self, port: int | None = None) -> FakeOpenAI:
        self.port = port or free_port()
        self._server = uvicorn.Server(self.server_config())
        self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def _released(self) -> asyncio.Event:
        if self._release is None:  # created on the server's loop, set from the test's thread
            self._loop, self._release = asyncio.get_running_loop(), asyncio.Event()
        return self._release

    def stop(self) -> None:
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    @classmethod
    @contextmanager
    def running(cls, **options: Any) -> Iterator[FakeOpenAI]:
        fake = cls(**options).start()
        try:
            yield fake
        finally:
            fake.stop()

    # -- what tests look at --

    def messages(self, index: int = -1) -> list[dict[str, Any]]:
        """The messages of the `index`-th recorded request."""
        with self._lock:
            return copy.deepcopy(self.requests[index]["messages"])


# --- wire format ----------------------------------------------------------------------------


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def _completion(answer: Answer, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.calls:
        message["tool_calls"] = [
            {
                "id": _call_id(),
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in answer.calls
        ]
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if answer.calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _pieces(value: str, parts: int = 3) -> list[str]:
    """Split a string into a few chunks, like a real stream does."""
    if not value:
        return []
    size = max(1, -(-len(value) // parts))
    return [value[i : i + size] for i in range(0, len(value), size)]


def _chunks(answer: Answer, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(answer.text or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(answer.calls):
        # First delta names the call; the arguments follow in fragments.
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": _call_id(),
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for fragment in _pieces(json.dumps(call.arguments)):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    yield chunk({}, "tool_calls" if answer.calls else "stop")
    if include_usage:
        yield {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }


async def _sse(chunks: Iterator[dict[str, Any]]) -> AsyncIterator[str]:
    for item in chunks:
        yield f"data: {json.dumps(item)}\n\n"
        await asyncio.sleep(0)  # let other streams interleave, as a real server would
    yield "data: [DONE]\n\n"


# --- standalone -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_openai",
        description="Fake OpenAI-compatible server (loopback)",
    )
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per model call")
    parser.add_argument("--tool", default="add_task", help="tool called for a user message")
    parser.add_argument(
        "--args",
        default='{"title": "{message}"}',
        help="JSON arguments of that call; {message} is the user's message",
    )
    parser.add_argument(
        "--fail",
        choices=["500", "429", "malformed", "garbage", "hang"],
        help="answer every call this way",
    )
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        delay=args.delay,
        default_tool=args.tool,
        default_arguments=json.loads(args.args),
        record=False,
    )
    if args.fail:
        fake.fail_with(
            {"malformed": MALFORMED, "garbage": GARBAGE, "hang": HANG}.get(args.fail)
            or error(int(args.fail))
        )
    fake.port = args.port
    print(f"fake OpenAI server on {fake.base_url} (delay {args.delay}s)", flush=True)
    uvicorn.Server(fake.server_config()).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
