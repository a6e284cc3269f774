"""The chat side: conversation store, agent construction, models and the chat turn."""
