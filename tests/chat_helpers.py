"""Moved: fixtures to `tests.support.chat_fixtures`, request helpers to `tests.support.chat`.

This name stays importable for modules not yet moved under `tests/chat/` (whose conftest
provides the fixtures without any import).
"""

from tests.support.chat import chat, conversations, messages, tasks  # noqa: F401
from tests.support.chat_fixtures import (  # noqa: F401
    chat_database_fixture,
    database_url_fixture,
    empty_database,
    headers_fixture,
    mcp_process_fixture,
    model_fixture,
    settings_fixture,
)
