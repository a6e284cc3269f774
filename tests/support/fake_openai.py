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
    arguments: dict[str, Any] | str  # a str is sent as it is (e.g. invalid JSON)


@dataclass(frozen=True)
class Answer:
    """One model answer: text, tool calls, or both."""

    text: str | None = None
    calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Failure:
    """An HTTP error, a malformed body, a hang (no answer for `seconds`), or a cut stream."""

    # "status" | "malformed" (not JSON) | "garbage" (JSON, not a completion) | "hang" |
    # "truncated" (a stream that stops after some text: no finish_reason, no [DONE])
    kind: str
    status: int = 500
    seconds: float = 30.0
    body: Any = None  # the error body; None: a generic one in the fake's dialect
    headers: tuple[tuple[str, str], ...] = ()


def text(content: str) -> Answer:
    return Answer(text=content)


def tool_call(name: str, arguments: dict[str, Any] | str | None = None) -> Answer:
    return Answer(calls=(ToolCall(name, {} if arguments is None else arguments),))


def tool_calls(*calls: tuple[str, dict[str, Any]]) -> Answer:
    return Answer(calls=tuple(ToolCall(name, args) for name, args in calls))


def error(status: int = 500, body: Any = None, **headers: str) -> Failure:
    """An HTTP error; `headers` with underscores for dashes (retry_after="100")."""
    pairs = tuple((name.replace("_", "-"), value) for name, value in headers.items())
    return Failure("status", status=status, body=body, headers=pairs)


TRUNCATED = Failure("truncated")

# --- dialects: what each OpenAI-compatible server sends where they differ (public docs, bug
# threads). `FakeOpenAI(dialect=...)` speaks one of them.
#   openai    the reference: indexed, fragmented tool-call deltas, finish_reason "tool_calls"
#   gemini    generativelanguage.googleapis.com/v1beta/openai: tool-call deltas without
#             `index`; the first call whole in one delta with extra_content.google.
#             thought_signature, which Gemini 3 wants back (400 otherwise); later calls split
#             over index-less deltas; finish_reason "stop"; errors wrapped in a list
#   ollama    /v1 of Ollama: each call whole in one indexed delta, finish_reason "stop"
#   llamacpp  llama.cpp server (some Ollama builds too): `arguments` as a JSON object, no id
#   vllm      like OpenAI; its context-length error is a 400 with "maximum context length"
DIALECTS = ("openai", "gemini", "ollama", "llamacpp", "vllm")


def context_length_error(dialect: str) -> Failure:
    """The provider's answer to a request longer than its context window."""
    bodies: dict[str, Any] = {
        "openai": {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your "
                "messages resulted in 130000 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
        "gemini": [
            {
                "error": {
                    "code": 400,
                    "message": "The input token count (1048600) exceeds the maximum number of "
                    "tokens allowed (1048576).",
                    "status": "INVALID_ARGUMENT",
                }
            }
        ],
        "ollama": {"error": {"message": "context length exceeded", "type": "api_error"}},
        "llamacpp": {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
            }
        },
        "vllm": {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you "
            "requested 5000 tokens (4900 in the messages, 100 in the completion).",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    }
    return Failure("status", status=400, body=bodies[dialect])


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
    dialect: str = "openai"
    # Answer a request whose messages exceed this many bytes with the dialect's context error.
    context_limit_bytes: int | None = None
    tls: tuple[str, str] | None = None  # (certificate file, key file): serve HTTPS
    default_tool: str | None = "add_task"
    default_arguments: dict[str, Any] = field(default_factory=lambda: {"title": "{message}"})
    # A tiny Retry-After on error answers keeps the client's one retry fast in tests.
    retry_after_ms: int = 1
    # Every request body, for assertions. Off for long benchmark runs (memory stays flat).
    record: bool = True
    # Stream text and arguments in pieces of this many characters (a real model sends about a
    # token, ~4 characters, per chunk); None: each in three pieces.
    chunk_chars: int | None = None
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
        self.signatures: dict[str, str] = {}  # gemini: call id -> the signature it was sent with

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

    def reset_for_test(self) -> None:
        """`reset`, and what a test may have changed put back: delay, dialect, context limit,
        the default tool, the Gemini signatures it was sent."""
        self.reset()
        self.delay = 0.0
        self.dialect = "openai"
        self.context_limit_bytes = None
        self.default_tool = "add_task"
        self.signatures.clear()

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

    def _next(self, body: dict[str, Any], refused: Failure | None = None) -> Scripted:
        with self._lock:
            if self.record:
                self.requests.append(copy.deepcopy(body))
            if refused is not None:
                return refused
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
        # A refused request (too long, a lost signature) consumes nothing from the script.
        answer = self._next(body, self._rejected(body))
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
            chunks = _chunks(
                answer, model, include_usage, self.dialect, self.signatures, self.chunk_chars
            )
            return StreamingResponse(_sse(chunks), media_type="text/event-stream")
        return JSONResponse(_completion(answer, model, self.dialect, self.signatures))

    def _rejected(self, body: dict[str, Any]) -> Failure | None:
        """What this dialect's server refuses: too long a request, a lost thought signature."""
        messages = body.get("messages") or []
        if self.context_limit_bytes is not None:
            if len(json.dumps(messages).encode()) > self.context_limit_bytes:
                return context_length_error(self.dialect)
        if self.dialect == "gemini":
            for message in messages:
                for call in message.get("tool_calls") or []:
                    expected = self.signatures.get(call.get("id"))
                    sent = ((call.get("extra_content") or {}).get("google") or {}).get(
                        "thought_signature"
                    )
                    if expected is not None and sent != expected:
                        return Failure(
                            "status",
                            status=400,
                            body=[
                                {
                                    "error": {
                                        "code": 400,
                                        "message": "Function call is missing a thought_signature "
                                        "in functionCall parts.",
                                        "status": "INVALID_ARGUMENT",
                                    }
                                }
                            ],
                        )
        return None

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
        if failure.kind == "truncated":
            cut = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Your "}}]},
                {"choices": [{"index": 0, "delta": {"content": "tasks are: "}}]},
            ]
            return StreamingResponse(
                iter(
                    f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', 'created': 0, 'model': 'fake', **chunk})}\n\n"
                    for chunk in cut
                ),
                media_type="text/event-stream",
            )
        if failure.kind == "malformed":
            if stream:
                return StreamingResponse(
                    iter(['data: {"id": "x", "choices": [{\n\n', "data: [DONE]\n\n"]),
                    media_type="text/event-stream",
                )
            return Response('{"id": "x", "choices": [', media_type="application/json")
        body = failure.body
        if body is None:
            body = {
                "error": {
                    "message": f"fake upstream error {failure.status}",
                    "type": "server_error",
                }
            }
        headers = dict(failure.headers) or {"retry-after-ms": str(self.retry_after_ms)}
        headers.setdefault("x-request-id", "req_" + uuid.uuid4().hex[:12])
        return JSONResponse(body, status_code=failure.status, headers=headers)

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
            # HTTPS, to stand in for https://api.openai.com (tests/chat/test_compose_openai_env.py)
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
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


def _wire_call(
    call: ToolCall, position: int, dialect: str, signatures: dict[str, str]
) -> dict[str, Any]:
    """One whole tool call as `dialect` writes it."""
    raw = isinstance(call.arguments, str)
    arguments: Any = call.arguments if raw else json.dumps(call.arguments)
    wire: dict[str, Any] = {"id": _call_id(), "type": "function"}
    if dialect == "llamacpp" and not raw:
        arguments = call.arguments  # an object, and no id
        del wire["id"]
    wire["function"] = {"name": call.name, "arguments": arguments}
    if dialect == "gemini" and position == 0:  # only the first parallel call is signed
        signature = "sig-" + uuid.uuid4().hex[:16]
        signatures[wire["id"]] = signature
        wire["extra_content"] = {"google": {"thought_signature": signature}}
    return wire


def _completion(
    answer: Answer, model: str, dialect: str = "openai", signatures: dict[str, str] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.calls:
        message["tool_calls"] = [
            _wire_call(call, position, dialect, {} if signatures is None else signatures)
            for position, call in enumerate(answer.calls)
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


def _pieces(value: str, size: int | None = None) -> list[str]:
    """Split a string into chunks like a real stream does: of `size` characters, or three."""
    if not value:
        return []
    size = size or max(1, -(-len(value) // 3))
    return [value[i : i + size] for i in range(0, len(value), size)]


def _chunks(
    answer: Answer,
    model: str,
    include_usage: bool,
    dialect: str = "openai",
    signatures: dict[str, str] | None = None,
    chunk_chars: int | None = None,
) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(answer.text or "", chunk_chars):
        yield chunk({"content": piece})
    if dialect != "openai" and dialect != "vllm":
        yield from _whole_call_chunks(
            answer, chunk, dialect, {} if signatures is None else signatures
        )
        if include_usage:
            yield {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
        return
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
        arguments = call.arguments
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        for fragment in _pieces(text, chunk_chars):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    yield chunk({}, "tool_calls" if answer.calls else "stop")
    if include_usage:
        yield {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }


def _whole_call_chunks(
    answer: Answer, chunk: Any, dialect: str, signatures: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """Gemini, Ollama, llama.cpp: a tool call arrives whole (or nearly) in one delta."""
    for position, call in enumerate(answer.calls):
        wire = _wire_call(call, position, dialect, signatures)
        if dialect == "gemini" and position > 0:
            # Later calls: name and id first, the arguments in an index-less continuation.
            arguments = wire["function"]["arguments"]
            half = len(arguments) // 2
            wire["function"]["arguments"] = arguments[:half]
            yield chunk({"tool_calls": [wire]})
            yield chunk({"tool_calls": [{"function": {"arguments": arguments[half:]}}]})
            continue
        if dialect != "gemini":
            wire["index"] = position
        yield chunk({"tool_calls": [wire]})
    finish = "tool_calls" if answer.calls and dialect == "llamacpp" else "stop"
    yield chunk({}, finish)


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
    parser.add_argument("--dialect", choices=DIALECTS, default="openai")
    parser.add_argument(
        "--chunk-chars",
        type=int,
        help="stream in pieces of this many characters (default: 3 pieces)",
    )
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        delay=args.delay,
        default_tool=args.tool,
        default_arguments=json.loads(args.args),
        record=False,
        dialect=args.dialect,
        chunk_chars=args.chunk_chars,
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
