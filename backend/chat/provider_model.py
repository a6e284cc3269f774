"""The Agents SDK's Chat Completions model, made safe for every OpenAI-compatible provider.

`ProviderModel` is `OpenAIChatCompletionsModel` with one seam: every `chat.completions.create`
call goes through `ProviderCalls.create`, which

- fits the request into `CONTEXT_TOKENS` (`context_budget.fit`) and, when the provider still
  says the context is too long, trims harder and tries once more;
- sends Gemini's thought signatures back with the tool calls they came with, whatever the
  model is called (an alias through LiteLLM or OpenRouter included);
- sets `store` to false unless `OPENAI_STORE=true` (OpenAI keeps stored completions otherwise);
- hands the messages and tools to the client as they are (`sent_as_is`);
- bounds each call by what is left of the turn deadline, and retries a 429 / 5xx / dropped
  connection once, only when the provider's `Retry-After` fits in that time;
- passes the answer through the stream normaliser (`stream_normaliser`).

One instance serves one turn (it remembers that turn's thought signatures).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx2
import openai
from agents import OpenAIChatCompletionsModel
from agents.models.openai_client_utils import is_official_openai_client
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from backend.chat import context_budget, deadline
from backend.chat.provider_errors import is_context_length_error, retry_after_seconds
from backend.chat.stream_normaliser import (
    StreamNormaliser,
    normalise_completion,
    normalised_stream,
)

log = logging.getLogger(__name__)

# A retry is worth it only with this much time left after waiting.
MIN_SECONDS_FOR_A_CALL = 2.0
# Wait this long before retrying when the provider names no time.
DEFAULT_RETRY_SECONDS = 0.5
RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
# Before sending, the client walks each parameter against its TypedDicts, every member of every
# union, to rename aliased keys and reformat dates and files. These two have neither (a test
# checks the client's types), and walking them cost more than anything else in a request: ~5 ms
# for a history of 40 messages (serialising it: 0.04 ms), on every model call of a turn.
SENT_AS_IS = ("messages", "tools")


@dataclass
class RequestLimits:
    context_tokens: int
    store: bool = False


class _Stream:
    """The provider's stream seen through the normaliser; closes the provider's stream."""

    def __init__(self, stream: Any, normaliser: StreamNormaliser) -> None:
        self._stream = stream
        self.response = getattr(stream, "response", None)  # the SDK reads x-request-id here
        self._chunks = normalised_stream(stream, normaliser)

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> Any:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()
        close = getattr(self._stream, "close", None)
        if close is not None:
            await close()


def sent_as_is(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`create` arguments with `SENT_AS_IS` moved into `extra_body`, which the client merges into
    the request body unwalked; the body sent is the same. The caller's own `extra_body` keys win,
    as they would have."""
    extra = kwargs.get("extra_body")
    moved = {key: kwargs[key] for key in SENT_AS_IS if isinstance(kwargs.get(key), list)}
    if not moved or not (extra is None or isinstance(extra, Mapping)):
        return kwargs
    rest = {key: value for key, value in kwargs.items() if key not in moved}
    return {**rest, "messages": [], "extra_body": {**moved, **(extra or {})}}


@dataclass
class ProviderCalls:
    """`client.chat.completions` for one turn, with the rules of the module doc."""

    client: AsyncOpenAI
    limits: RequestLimits
    signatures: dict[str, str] = field(default_factory=dict)

    def _prepare(self, kwargs: dict[str, Any], hard: bool) -> dict[str, Any]:
        prepared = dict(kwargs)
        messages = cast(list[dict[str, Any]], prepared.get("messages") or [])
        tools = prepared.get("tools")
        messages = context_budget.fit(
            messages,
            tools if isinstance(tools, list) else None,
            self.limits.context_tokens,
            hard=hard,
        )
        prepared["messages"] = self._with_signatures(messages)
        if is_official_openai_client(self.client):
            prepared["store"] = self.limits.store
        elif not self.limits.store:
            prepared.pop("store", None)
        left = deadline.remaining()
        if left is not None:
            prepared["timeout"] = self._timeout_within(max(0.1, left))
        return sent_as_is(prepared)

    def _timeout_within(self, left: float) -> httpx2.Timeout:
        """The client's own timeouts, none longer than what is left of the turn."""
        own = self.client.timeout
        if not isinstance(own, httpx2.Timeout):
            return httpx2.Timeout(min(float(own), left) if own is not None else left)
        return httpx2.Timeout(
            connect=min(own.connect or left, left),
            read=min(own.read or left, left),
            write=min(own.write or left, left),
            pool=min(own.pool or left, left),
        )

    def _with_signatures(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.signatures:
            return messages
        result = []
        for message in messages:
            calls = message.get("tool_calls")
            if calls and any(call.get("id") in self.signatures for call in calls):
                message = {**message, "tool_calls": [self._signed(call) for call in calls]}
            result.append(message)
        return result

    def _signed(self, call: dict[str, Any]) -> dict[str, Any]:
        signature = self.signatures.get(call.get("id", ""))
        if signature is None or "extra_content" in call:
            return call
        return {**call, "extra_content": {"google": {"thought_signature": signature}}}

    def _retry_wait(self, exc: BaseException) -> float | None:
        """How long to wait before the one retry, or None when it must fail at once."""
        if not isinstance(exc, RETRYABLE):
            return None
        if isinstance(exc, openai.RateLimitError) and "quota" in str(exc.code or "").lower():
            return None
        wait = retry_after_seconds(exc)
        wait = DEFAULT_RETRY_SECONDS if wait is None else wait
        left = deadline.remaining()
        if left is not None and wait + MIN_SECONDS_FOR_A_CALL > left:
            return None
        return wait

    async def create(self, **kwargs: Any) -> Any:
        hard = False
        retried = False
        while True:
            try:
                result = await self.client.chat.completions.create(**self._prepare(kwargs, hard))
            except openai.APIStatusError as exc:
                if is_context_length_error(exc) and not hard:
                    log.warning("the provider said the context is too long; trimming harder")
                    hard = True
                    continue
                wait = None if retried else self._retry_wait(exc)
                if wait is None:
                    raise
            except openai.APIConnectionError as exc:
                if isinstance(exc, openai.APITimeoutError) or retried:
                    raise
                wait = self._retry_wait(exc)
                if wait is None:
                    raise
            else:
                if isinstance(result, ChatCompletion):
                    return normalise_completion(result, self.signatures)
                return _Stream(result, StreamNormaliser(self.signatures))
            retried = True
            await asyncio.sleep(wait)


class _ClientView:
    """The real client, except that `chat.completions` is this turn's `ProviderCalls`."""

    def __init__(self, client: AsyncOpenAI, calls: ProviderCalls) -> None:
        self._client = client
        self.chat = _Chat(calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Chat:
    def __init__(self, calls: ProviderCalls) -> None:
        self.completions = calls


class ProviderModel(OpenAIChatCompletionsModel):
    """Chat Completions against any OpenAI-compatible provider; one instance per turn."""

    def __init__(self, model: str, openai_client: AsyncOpenAI, limits: RequestLimits) -> None:
        super().__init__(model=model, openai_client=openai_client)
        self.calls = ProviderCalls(openai_client, limits)

    def _get_client(self) -> AsyncOpenAI:
        client = super()._get_client()  # the SDK may swap in a copy with retries off
        calls = self.calls
        if client is not calls.client:
            calls = ProviderCalls(client, calls.limits, calls.signatures)
        return cast(AsyncOpenAI, _ClientView(client, calls))
