"""Every test in this folder chats: it gets the real MCP server without importing anything.

Each module runs on SQLite and on PostgreSQL, with one `todo-agent mcp` process per module and
database; `settings` points the app at it, `model` scripts the model, `headers` are alice's.
"""

from tests.support.chat_fixtures import (  # noqa: F401  (importing a fixture registers it)
    chat_database_fixture,
    database_url_fixture,
    headers_fixture,
    mcp_process_fixture,
    model_fixture,
    settings_fixture,
)
