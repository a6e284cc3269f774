"""A Model wrapper that counts, times and traces each model call of a turn.

Works for every model the turn can run (the offline one, a real one over Chat Completions, a
scripted one in tests), because it sits between the agent loop and the model: the outcome, the
duration and the token counts the provider reported, as metrics and as a GenAI `chat` span.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
from agents import Model, ModelResponse, OpenAIChatCompletionsModel
from agents.usage import Usage
from openai.types.responses import ResponseCompletedEvent
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from backend.config import Settings
from backend.observability import agents_bridge, tracing
from backend.observability.metrics import (
    MODEL_DURATION,
    MODEL_REQUESTS,
    MODEL_TOKENS,
    metrics_enabled,
)


def describe_model(model: Model, settings: Settings) -> tuple[str, str]:
    """(provider, model name) labels: bounded, from the configuration, never from input."""
    if isinstance(model, OpenAIChatCompletionsModel):
        provider = "openai_compatible" if settings.openai_base_url else "openai"
        return provider, str(model.model)
    name = type(model).__name__
    if name == "OfflineModel":
        return "offline", "offline"
    return name, name


def model_outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.RateLimitError):
        return "rate_limited"
    return "error"


class _Call:
    """One model call: its span (tracing on) and its figures (metrics on)."""

    def __init__(self, provider: str, name: str) -> None:
        self.provider, self.name = provider, name
        self.started = time.perf_counter()
        self.span: trace.Span | None = None
        if tracing.tracing_enabled():
            with agents_bridge.bridged_span():  # under the agent step that made the call
                self.span = tracing.tracer().start_span(
                    f"chat {name}",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": provider,
                        "gen_ai.request.model": name,
                    },
                )

    def finish(self, error: BaseException | None, usage: Any) -> None:
        outcome = model_outcome(error)
        input_tokens = int(getattr(usage, "input_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "output_tokens", 0) or 0)
        if metrics_enabled():
            MODEL_REQUESTS.labels(self.provider, self.name, outcome).inc()
            MODEL_DURATION.labels(self.provider, self.name).observe(
                time.perf_counter() - self.started
            )
            if input_tokens:
                MODEL_TOKENS.labels(self.provider, self.name, "input").inc(input_tokens)
            if output_tokens:
                MODEL_TOKENS.labels(self.provider, self.name, "output").inc(output_tokens)
        if self.span is not None:
            if usage is not None:
                self.span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
                self.span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
            if error is not None:
                self.span.set_attribute("error.type", type(error).__qualname__)
                self.span.set_status(Status(StatusCode.ERROR))
            self.span.end()

    def current(self) -> Any:
        """The call's span as the current one (the provider's HTTP request nests under it)."""
        if self.span is None:
            return agents_bridge.bridged_span()
        return trace.use_span(self.span, end_on_exit=False)


class ObservedModel(Model):
    """Delegates to `inner`; records each call."""

    def __init__(self, inner: Model, settings: Settings) -> None:
        self.inner = inner
        self.provider, self.name = describe_model(inner, settings)

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        call = _Call(self.provider, self.name)
        try:
            with call.current():
                response = await self.inner.get_response(*args, **kwargs)
        except BaseException as error:
            call.finish(error, None)
            raise
        call.finish(None, response.usage)
        return response

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        call = _Call(self.provider, self.name)
        usage: Usage | Any = None
        stream = self.inner.stream_response(*args, **kwargs).__aiter__()
        try:
            while True:
                # Current only while the inner stream runs: between events the agent loop runs.
                with call.current():
                    try:
                        event = await stream.__anext__()
                    except StopAsyncIteration:
                        break
                if isinstance(event, ResponseCompletedEvent):
                    usage = event.response.usage
                yield event
        except BaseException as error:
            call.finish(error, usage)
            raise
        call.finish(None, usage)

    async def close(self) -> None:
        await self.inner.close()


def observed_model(model: Model, settings: Settings) -> Model:
    """`model` with its calls recorded, unless both metrics and tracing are off."""
    if not metrics_enabled() and not tracing.tracing_enabled():
        return model
    return ObservedModel(model, settings)
