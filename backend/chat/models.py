"""Which model the agent runs: the offline rule-based model, or a real one over Chat Completions.

`MODEL=offline` (the default without an API key) needs nothing. Any other name goes to OpenAI,
or to the OpenAI-compatible server at `OPENAI_BASE_URL` (Ollama, vLLM, OpenRouter, LiteLLM).
"""

from __future__ import annotations

from functools import lru_cache

from agents import Model, OpenAIChatCompletionsModel, set_tracing_disabled
from openai import AsyncOpenAI

from backend.config import Settings

OFFLINE = "offline"


def configure_sdk(settings: Settings) -> None:
    """Process-wide Agents SDK settings. Tracing exports to OpenAI, so it is off unless asked for."""
    set_tracing_disabled(not settings.tracing)


@lru_cache(maxsize=8)
def _client(api_key: str | None, base_url: str | None, timeout: float) -> AsyncOpenAI:
    # One client per configuration and process: it keeps its connection pool between turns.
    return AsyncOpenAI(
        # Local OpenAI-compatible servers (Ollama, vLLM) accept any key; the client needs one.
        api_key=api_key or "unused",
        base_url=base_url,
        timeout=timeout,
        max_retries=1,
    )


def build_model(settings: Settings) -> Model:
    if settings.model_name == OFFLINE:
        from backend.chat.offline import OfflineModel

        return OfflineModel()
    client = _client(settings.openai_api_key, settings.openai_base_url, settings.model_timeout_seconds)
    return OpenAIChatCompletionsModel(model=settings.model_name, openai_client=client)
