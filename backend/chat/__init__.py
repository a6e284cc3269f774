"""The chat side: the turn (`turn`), its claim on a conversation (`claims`), the conversation
store (`store`), idempotent retries (`idempotency`), tool calls and history (`history`), the
agent (`agent`), model providers (`providers`), the MCP client (`mcp_client`), the offline model.
"""
