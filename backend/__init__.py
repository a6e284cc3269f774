"""Todo agent backend: the task domain, the HTTP API and the chat agent."""

__version__ = "0.1.0"
