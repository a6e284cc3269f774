"""Is the model configuration usable? Checked by `/ready`, without calling the provider.

Readiness probes run every few seconds; a request to a paid API each time would cost money and
count against rate limits. What can be known locally is checked: a real model named with no way
to reach it, a base URL that is not an http(s) URL, OpenAI without a key.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from agents.models.openai_client_utils import is_official_openai_base_url

from backend.config import Settings

OFFLINE = "offline"


def model_configuration_problem(settings: Settings) -> str | None:
    """A one-line description of what is wrong (naming the setting), or None."""
    if settings.model_name == OFFLINE:
        return None
    base_url = settings.openai_base_url
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "misconfigured: OPENAI_BASE_URL must be an http:// or https:// URL"
    if not settings.openai_api_key and (not base_url or is_official_openai_base_url(base_url)):
        return f"misconfigured: MODEL={settings.model_name} needs OPENAI_API_KEY"
    if os.environ.get("OPENAI_BASE_URL") == "":
        # The client would read "" itself; the app removes it at start, so this is a bug.
        return "misconfigured: OPENAI_BASE_URL is set but empty"
    return None
