"""What a turn sends to the model: the stored conversation replayed as Responses input items.

A user message becomes `{"role": "user", "content": ...}`. An assistant message replays its
tool calls first, each as a `function_call` (the arguments as the model wrote them) followed by
its `function_call_output` carrying the exact output the model saw at the time, then
`{"role": "assistant", "content": ...}`. A call and
its output live in the same stored message, so cutting the history to the newest N messages can
never leave an output without its call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agents import TResponseInputItem

from backend.models import Message


@dataclass
class ToolCallRecord:
    """One tool call of a turn, as run: what the model asked for and what it got back."""

    call_id: str
    tool: str
    parameters: dict[str, Any]
    result: Any  # the result as JSON: MCP structured content, or {"error": ...}
    arguments: str  # the arguments exactly as the model wrote them
    output: Any  # the function_call_output exactly as the model received it (str or parts)

    def public(self) -> dict[str, Any]:
        return {"tool": self.tool, "parameters": self.parameters, "result": self.result}

    def stored(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "tool": self.tool,
            "parameters": self.parameters,
            "result": self.result,
            "arguments": self.arguments,
            "output": self.output,
        }


def public_tool_calls(stored: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "tool": call.get("tool"),
            "parameters": call.get("parameters", {}),
            "result": call.get("result"),
        }
        for call in stored
    ]


def _replayed_calls(message: Message) -> list[TResponseInputItem]:
    items: list[TResponseInputItem] = []
    for index, call in enumerate(message.tool_calls or []):
        call_id = call.get("call_id") or f"call_{message.id}_{index}"
        arguments = call.get("arguments")
        if arguments is None:
            arguments = json.dumps(call.get("parameters", {}), ensure_ascii=False)
        output = call.get("output")
        if output is None:
            output = json.dumps(call.get("result"), ensure_ascii=False)
        items.append(
            {
                "type": "function_call",
                "call_id": call_id,
                "name": call["tool"],
                "arguments": arguments,
            }
        )
        items.append({"type": "function_call_output", "call_id": call_id, "output": output})
    return items


def replay(messages: Iterable[Message]) -> list[TResponseInputItem]:
    """The stored messages (oldest first) as model input items."""
    items: list[TResponseInputItem] = []
    for message in messages:
        if message.role == "user":
            items.append({"role": "user", "content": message.content})
            continue
        items.extend(_replayed_calls(message))
        if message.content:
            items.append({"role": "assistant", "content": message.content})
    return items
