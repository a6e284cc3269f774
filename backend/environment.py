"""An empty environment variable means "not set", for the libraries that read it themselves too.

docker compose passes `${VAR:-}`, so an unset variable arrives as "". Our settings ignore empty
values (`env_ignore_empty`), but the `openai` client reads `OPENAI_BASE_URL`, `OPENAI_ORG_ID` and
friends from the environment on its own: `OPENAI_BASE_URL=""` made every request fail ("Request
URL is missing an 'http://' or 'https://' protocol"). The same goes for OpenTelemetry's
`OTEL_*`, and for proxy and CA-bundle variables read by the HTTP clients.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# Read directly from the environment by a library we use (openai, the Agents SDK, httpx,
# OpenTelemetry), where "" would be taken as a value.
LIBRARY_PREFIXES = ("OPENAI_", "OTEL_")
LIBRARY_NAMES = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)


def _read_by_a_library(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(LIBRARY_PREFIXES) or upper in LIBRARY_NAMES


def neutralise_empty_variables(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Remove the empty variables that libraries would read as values; returns their names."""
    env = os.environ if environ is None else environ
    empty = [name for name, value in env.items() if value == "" and _read_by_a_library(name)]
    for name in empty:
        del env[name]
    return empty
