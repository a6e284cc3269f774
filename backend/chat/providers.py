"""Which model the agent runs: the offline rule-based model, or a real one over Chat Completions.

`MODEL=offline` (the default without an API key) needs nothing. Any other name goes to OpenAI
(`OPENAI_API_KEY`), or to the OpenAI-compatible server at `OPENAI_BASE_URL` (Ollama, vLLM,
OpenRouter, a LiteLLM proxy) through the Chat Completions API, which all of them speak.

Provider failures surface from `Runner.run` / `Runner.run_streamed` as `PROVIDER_ERRORS` (see
below); `backend.api.errors` turns them into 503.
"""

from __future__ import annotations

import json
import ssl
from functools import lru_cache
from typing import Any

import httpx2
import pydantic
from agents import Model, ModelBehaviorError, set_tracing_disabled
from openai import APIError, AsyncOpenAI, DefaultAsyncHttpxClient
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from backend.chat.provider_model import ProviderModel, RequestLimits
from backend.chat.tracing_key import configure_tracing
from backend.config import ConfigError, Settings
from backend.environment import neutralise_empty_variables
from backend.observability.tracing import tracing_enabled

OFFLINE = "offline"
OPENAI_BASE_URL = "https://api.openai.com/v1"

# How long to wait for a TCP connection to the provider. An unreachable provider should fail a
# turn in seconds, not after the full MODEL_TIMEOUT_SECONDS (which bounds each read instead).
CONNECT_TIMEOUT_SECONDS = 5.0
# The client does not retry on its own: `ProviderModel` retries once, and only when the
# provider's Retry-After fits in what is left of the turn deadline (TURN_TIMEOUT_SECONDS).
MAX_RETRIES = 0

# What a call to a real model can raise, all of which mean "the model provider failed":
# - openai.APIError: HTTP errors (APIStatusError: 4xx/5xx, e.g. InternalServerError,
#   RateLimitError, AuthenticationError), APIConnectionError, APITimeoutError (a subclass of
#   APIConnectionError), APIResponseValidationError, and errors sent inside a stream;
# - json.JSONDecodeError: a body or stream chunk that is not JSON (a ValueError);
# - agents.ModelBehaviorError: a well-formed answer the agent cannot use.
PROVIDER_ERRORS: tuple[type[BaseException], ...] = (
    APIError,
    json.JSONDecodeError,
    ModelBehaviorError,
)


class ModelUnavailableError(Exception):
    """The configured model cannot be built (e.g. MODEL names a model with no key or URL)."""


def configure_sdk(settings: Settings) -> None:
    """Process-wide Agents SDK settings. Tracing exports to OpenAI: off unless asked for, and
    never with a key that belongs to another provider (`tracing_key`).

    With OpenTelemetry on, the SDK's spans go to it instead (`observability.agents_bridge`).
    """
    neutralise_empty_variables()
    openai_export = configure_tracing(settings)
    set_tracing_disabled(not (openai_export or tracing_enabled()))


class ProviderClient(AsyncOpenAI):
    """`AsyncOpenAI`, parsing answers with pydantic's validator when they fit OpenAI's types.

    The client builds every answer, and every chunk of a streamed one, with its own lenient
    `construct_type`, a walk in Python that took ~46 µs per chunk against ~2 µs for pydantic's
    validator; a real model streams about a token per chunk, so a turn's answers are dozens of
    chunks. What the validator refuses (a provider's quirk: arguments as an object, an unknown
    finish reason) is built the client's way, as before.
    """

    def _process_response_data(
        self, *, data: object, cast_to: Any, response: httpx2.Response
    ) -> Any:
        if cast_to is ChatCompletionChunk or cast_to is ChatCompletion:
            try:
                return cast_to.model_validate(data)
            except pydantic.ValidationError:
                pass
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building an SSL context costs ~25 ms (it loads the CA bundle); do it once per process and
    # share it, instead of once per HTTP client.
    return httpx2.create_ssl_context()


def new_openai_client(settings: Settings) -> AsyncOpenAI:
    """A client for the configured provider; the app builds one and shares it (`ModelProvider`)."""
    timeout = settings.model_timeout_seconds
    timeouts = httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS))
    # Every argument explicit: the client would otherwise read OPENAI_* from the environment
    # itself (an empty OPENAI_BASE_URL from compose broke every request). It still reads the
    # organization and project from there when given None: empty ones go first.
    neutralise_empty_variables()
    return ProviderClient(
        # Local OpenAI-compatible servers (Ollama, vLLM) accept any key; the client needs one.
        api_key=settings.openai_api_key or "unused",
        base_url=settings.openai_base_url or OPENAI_BASE_URL,
        organization=None,
        project=None,
        timeout=timeouts,
        max_retries=MAX_RETRIES,
        # The SDK's defaults (connection limits, redirects), with the shared SSL context.
        http_client=DefaultAsyncHttpxClient(verify=_ssl_context(), timeout=timeouts),
    )


def check_model_settings(settings: Settings) -> None:
    """Fail with a clear message when a real model is named but there is no way to reach it."""
    if settings.model_name == OFFLINE:
        return
    if not settings.openai_api_key and not settings.openai_base_url:
        raise ConfigError(
            f"MODEL={settings.model_name} needs OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL "
            "(an OpenAI-compatible server such as Ollama); or use MODEL=offline"
        )


def build_model(settings: Settings, client: AsyncOpenAI | None = None) -> Model:
    """The model for one turn: the offline model, or the named one over `client` (a new one if
    None; the app passes its shared client, which keeps its connection pool between turns)."""
    if settings.model_name == OFFLINE:
        from backend.chat.offline import OfflineModel

        return OfflineModel()
    check_model_settings(settings)
    limits = RequestLimits(context_tokens=settings.context_tokens, store=settings.openai_store)
    return ProviderModel(settings.model_name, client or new_openai_client(settings), limits)


class ModelProvider:
    """The app's source of models: one OpenAI client for every turn, closed on shutdown.

    Built in the app's lifespan, so the client's pooled connections belong to the event loop
    that serves the requests.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = None if settings.model_name == OFFLINE else new_openai_client(settings)

    def model(self) -> Model:
        """The model for one turn (cheap)."""
        return build_model(self.settings, self.client)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()
