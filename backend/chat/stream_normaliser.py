"""What OpenAI-compatible servers send, made into what the Agents SDK expects: in one place.

The SDK's Chat Completions model (`agents/models/chatcmpl_stream_handler.py`) follows OpenAI's
wire format to the letter. The servers people run it against differ in small ways that break it:

- Gemini's OpenAI-compatible endpoint streams each tool call whole, in one delta with **no
  `index`**; the SDK keys calls by index, so two parallel calls became one call with both
  argument strings glued together (invalid JSON).
- llama.cpp's server and some Ollama builds send `arguments` as a JSON **object**, not a string
  (the SDK then adds a dict to a str: a crash).
- Some servers send tool calls **without an `id`** (the SDK then never emits the call).
- A stream that stops without a `finish_reason` (a proxy cut it, the server died) ends like a
  complete answer; the SDK only checks this for OpenAI's own URL.
- Gemini attaches a `thought_signature` to tool calls (`extra_content.google`) that it wants back
  with the call in the next request of the turn. The SDK sends it back only when the model name
  contains "gemini"; here it is remembered whenever the provider sends one (see `signatures`).

`StreamNormaliser` fixes each chunk as it arrives, before the SDK sees it; `normalised_stream`
wraps a whole stream and raises `IncompleteStreamError` when it ends without a finish reason.
`normalise_completion` does the same for a non-streamed answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents import ModelBehaviorError
from openai.types.chat import ChatCompletion, ChatCompletionChunk


class IncompleteStreamError(ModelBehaviorError):
    """The provider's stream ended before the answer was complete (no finish_reason)."""


def generated_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def arguments_text(arguments: Any) -> str | None:
    """Tool-call arguments as the JSON string the SDK expects (some servers send an object)."""
    if arguments is None or isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


def thought_signature(tool_call: Any) -> str | None:
    """Gemini's signature of a tool call (`extra_content.google.thought_signature`), if any."""
    extra = getattr(tool_call, "extra_content", None)
    if not isinstance(extra, dict):
        return None
    google = extra.get("google")
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


@dataclass
class _Call:
    position: int  # the index the SDK sees
    call_id: str
    named: bool = False


@dataclass
class StreamNormaliser:
    """Fixes the chunks of one streamed answer; `signatures` is shared by the turn's requests."""

    signatures: dict[str, str] = field(default_factory=dict)
    finished: bool = False
    answered: bool = False  # a chunk with a choice arrived
    _calls: list[_Call] = field(default_factory=list)
    _by_provider_index: dict[int, _Call] = field(default_factory=dict)

    def chunk(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk:
        for choice in chunk.choices or []:
            self.answered = True
            if choice.finish_reason:
                self.finished = True
            delta = choice.delta
            if choice.index != 0 or delta is None or not delta.tool_calls:
                continue
            for tool_call in delta.tool_calls:
                self._tool_call_delta(tool_call)
        return chunk

    def _tool_call_delta(self, tool_call: Any) -> None:
        function = getattr(tool_call, "function", None)
        name = getattr(function, "name", None) if function is not None else None
        call = self._call_for(getattr(tool_call, "index", None), tool_call.id, bool(name))
        if name:
            call.named = True
        tool_call.index = call.position
        # Repeating the id on every delta of a call is harmless: the SDK keeps the last one.
        tool_call.id = call.call_id
        if function is not None:
            function.arguments = arguments_text(function.arguments)
        signature = thought_signature(tool_call)
        if signature:
            self.signatures[call.call_id] = signature

    def _call_for(self, provider_index: int | None, call_id: str | None, named: bool) -> _Call:
        """The call this delta belongs to; a new one when the delta starts a call."""
        if call_id:
            for call in self._calls:
                if call.call_id == call_id:
                    return call
        if provider_index is not None:
            known = self._by_provider_index.get(provider_index)
            # A known index with a different id: the server reuses index 0 for every call.
            if known is not None and not (call_id and known.call_id != call_id and known.named):
                return known
        elif self._calls and not (named and self._calls[-1].named) and not call_id:
            return self._calls[-1]  # a continuation: no id, no new name
        call = _Call(position=len(self._calls), call_id=call_id or generated_call_id())
        self._calls.append(call)
        if provider_index is not None:
            self._by_provider_index[provider_index] = call
        return call


async def normalised_stream(
    stream: AsyncIterator[ChatCompletionChunk], normaliser: StreamNormaliser
) -> AsyncGenerator[ChatCompletionChunk, None]:
    async for chunk in stream:
        yield normaliser.chunk(chunk)
    if not normaliser.answered:
        raise ModelBehaviorError("the provider's stream held no answer")
    if not normaliser.finished:
        raise IncompleteStreamError("the provider's stream ended before the answer was complete")


def normalise_completion(completion: ChatCompletion, signatures: dict[str, str]) -> ChatCompletion:
    """A non-streamed answer: ids for calls without one, string arguments, signatures kept."""
    for choice in completion.choices or []:
        for tool_call in getattr(choice.message, "tool_calls", None) or []:
            if not getattr(tool_call, "id", None):
                tool_call.id = generated_call_id()
            function = getattr(tool_call, "function", None)
            if function is not None:
                function.arguments = arguments_text(function.arguments) or "{}"
            signature = thought_signature(tool_call)
            if signature:
                signatures[tool_call.id] = signature
    return completion
