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

    def stored_public(self) -> dict[str, Any]:
        """`public()` with the result bounded, for answers kept in the database."""
        return {**self.public(), "result": bounded_result(self.result)}

    def stored(self) -> dict[str, Any]:
        """The call as stored: the result once and bounded; the model's exact output only when
        replay could not rebuild it from the result (it differs, and the result was kept whole).
        """
        result = bounded_result(self.result)
        entry: dict[str, Any] = {
            "call_id": self.call_id,
            "tool": self.tool,
            "parameters": self.parameters,
            "result": result,
            "arguments": self.arguments,
        }
        if result is self.result and self.output != _rebuilt_output(result):
            entry["output"] = self.output
        return entry


# A "show all my tasks" over 500 long tasks returned ~0.4 MB, stored twice per turn (result and
# output) and again in the idempotent answer. Kept results are cut to this size; the reply the
# user got was written from the whole result, and the tool can be called again for it.
MAX_STORED_RESULT_CHARS = 16_000


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def bounded_result(result: Any, limit: int = MAX_STORED_RESULT_CHARS) -> Any:
    """`result` if its JSON fits in `limit` characters; else a cut-down copy that says so.

    A result holding a list (list_tasks: {"tasks": [...], "count": n}) keeps as many leading
    items as fit, plus `"omitted": <how many were cut>`; anything else keeps a text preview.
    """
    if _size(result) <= limit:
        return result
    if isinstance(result, dict):
        lists = [key for key, value in result.items() if isinstance(value, list)]
        if lists:
            key = max(lists, key=lambda name: len(result[name]))
            items = result[key]
            kept: list[Any] = []
            base = _size({**result, key: [], "omitted": len(items)})
            used = base
            for item in items:
                used += _size(item) + 2
                if used > limit:
                    break
                kept.append(item)
            return {**result, key: kept, "omitted": len(items) - len(kept)}
    text = json.dumps(result, ensure_ascii=False)
    return {"truncated": True, "preview": text[: limit // 2]}


def _rebuilt_output(result: Any) -> str:
    """What replay sends as the tool's output when none was stored."""
    return json.dumps(result, ensure_ascii=False)


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
            output = _rebuilt_output(call.get("result"))
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
