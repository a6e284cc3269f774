"""What the tests share: one place for each helper, so no test module carries its own copy.

- `processes`: free loopback ports and the real `todo-agent api` / `mcp` child processes.
- `stack`: API and MCP processes on one database, started and stopped together.
- `tokens`: the test signing secret and HS256 tokens / Authorization headers for a user.
- `sse`: the `data:` payloads of a server-sent event stream.
- `chat`: request bodies and calls of the chat and conversations API.
- `mcp`: JSON-RPC calls to a running MCP server over HTTP.
- `fake_openai`: a loopback OpenAI-compatible server (also runnable on its own).
- `chat_fixtures`: the chat fixtures (a real MCP process per module and database), imported by
  the `conftest.py` of the folders whose tests chat: `tests/chat/`, `tests/reliability/`.
"""
