"""Which model the agent runs: the offline rule-based model, or a real one over Chat Completions.

`MODEL=offline` (the default without an API key) needs nothing. Any other name goes to OpenAI
(`OPENAI_API_KEY`), or to the OpenAI-compatible server at `OPENAI_BASE_URL` (Ollama, vLLM,
OpenRouter, a LiteLLM proxy) through the Chat Completions API, which all of them speak.

Provider failures surface from `Runner.run` / `Runner.run_streamed` as `PROVIDER_ERRORS` (see
below); the chat route turns them into 503.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import weakref
from functools import lru_cache

import httpx2
from agents import Model, ModelBehaviorError, set_tracing_disabled
from openai import APIError, AsyncOpenAI, DefaultAsyncHttpxClient

from backend.chat.provider_model import ProviderModel, RequestLimits
from backend.chat.tracing_key import configure_tracing
from backend.config import ConfigError, Settings
from backend.environment import neutralise_empty_variables

OFFLINE = "offline"
OPENAI_BASE_URL = "https://api.openai.com/v1"

# How long to wait for a TCP connection to the provider. An unreachable provider should fail a
# turn in seconds, not after the full MODEL_TIMEOUT_SECONDS (which bounds each read instead).
CONNECT_TIMEOUT_SECONDS = 5.0
# The client does not retry on its own: `ProviderModel` retries once, and only when the
# provider's Retry-After fits in what is left of the turn deadline.
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


def configure_sdk(settings: Settings) -> None:
    """Process-wide Agents SDK settings. Tracing exports to OpenAI: off unless asked for."""
    neutralise_empty_variables()
    set_tracing_disabled(not configure_tracing(settings))


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building an SSL context costs ~25 ms (it loads the CA bundle); do it once per process and
    # share it, instead of once per HTTP client.
    return httpx2.create_ssl_context()


def _new_client(api_key: str | None, base_url: str | None, timeout: float) -> AsyncOpenAI:
    timeouts = httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS))
    # Every argument explicit: the client would otherwise read OPENAI_* from the environment
    # itself (an empty OPENAI_BASE_URL from compose broke every request).
    return AsyncOpenAI(
        # Local OpenAI-compatible servers (Ollama, vLLM) accept any key; the client needs one.
        api_key=api_key or "unused",
        base_url=base_url or OPENAI_BASE_URL,
        organization=None,
        project=None,
        timeout=timeouts,
        max_retries=MAX_RETRIES,
        # The SDK's defaults (connection limits, redirects), with the shared SSL context.
        http_client=DefaultAsyncHttpxClient(verify=_ssl_context(), timeout=timeouts),
    )


# One client per configuration and event loop: it keeps its connection pool between turns.
# Pooled connections belong to the loop that opened them, so a client is never shared between
# loops (a second loop would hit "Event loop is closed"); the entries go away with their loop.
_ClientKey = tuple[str | None, str | None, float]
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_ClientKey, AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def openai_client(settings: Settings) -> AsyncOpenAI:
    """The shared client for this configuration, for the running event loop (if any)."""
    key = (settings.openai_api_key, settings.openai_base_url, settings.model_timeout_seconds)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # Outside a loop nothing can be shared safely; the caller owns this client.
        return _new_client(*key)
    per_loop = _clients.setdefault(loop, {})
    if key not in per_loop:
        per_loop[key] = _new_client(*key)
    return per_loop[key]


def check_model_settings(settings: Settings) -> None:
    """Fail with a clear message when a real model is named but there is no way to reach it."""
    if settings.model_name == OFFLINE:
        return
    if not settings.openai_api_key and not settings.openai_base_url:
        raise ConfigError(
            f"MODEL={settings.model_name} needs OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL "
            "(an OpenAI-compatible server such as Ollama); or use MODEL=offline"
        )


def build_model(settings: Settings) -> Model:
    """The model for one turn. Cheap: call it inside the event loop that will run the turn."""
    if settings.model_name == OFFLINE:
        from backend.chat.offline import OfflineModel

        return OfflineModel()
    check_model_settings(settings)
    client = openai_client(settings)
    limits = RequestLimits(context_tokens=settings.context_tokens, store=settings.openai_store)
    return ProviderModel(settings.model_name, client, limits)
