"""Agents SDK tracing (`TRACING=true`) exports to OpenAI's trace endpoint, with which key.

The SDK's exporter takes `OPENAI_API_KEY` from the environment. With a third-party provider
(`OPENAI_BASE_URL` set to Gemini, OpenRouter, a LiteLLM proxy...) that variable holds *that*
provider's key, which must never go to OpenAI. So tracing runs only when the key belongs to
OpenAI, and the exporter is given that key explicitly; otherwise tracing stays off and the log
says why (OpenTelemetry, `OTEL_*`, exports to a host the operator chooses).
"""

from __future__ import annotations

import logging

from agents import set_tracing_export_api_key
from agents.models.openai_client_utils import is_official_openai_base_url

from backend.config import Settings

log = logging.getLogger(__name__)

_warned = False


def key_belongs_to_openai(settings: Settings) -> bool:
    base_url = settings.openai_base_url
    return bool(settings.openai_api_key) and (not base_url or is_official_openai_base_url(base_url))


def tracing_allowed(settings: Settings) -> bool:
    """Tracing to OpenAI is asked for and would send OpenAI's own key only."""
    return settings.tracing and key_belongs_to_openai(settings)


def configure_tracing(settings: Settings) -> bool:
    """Point the exporter at the right key; True when tracing may run."""
    global _warned
    if not settings.tracing:
        return False
    if not key_belongs_to_openai(settings):
        if not _warned:
            _warned = True
            log.warning(
                "TRACING=true is ignored: traces go to OpenAI, and OPENAI_API_KEY belongs to "
                "the provider at OPENAI_BASE_URL (or is not set)"
            )
        return False
    assert settings.openai_api_key is not None
    set_tracing_export_api_key(settings.openai_api_key)
    return True
