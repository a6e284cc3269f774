"""The MCP tool server: the todo tools of `backend.tasks` for agents and MCP clients."""
