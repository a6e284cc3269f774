"""A turn's tool calls, in every form they take, and the stored conversation replayed for the model.

`ToolCallLog` collects the calls of a running turn from the agent's stream events as
`ToolCallRecord`s; a record is stored on the assistant message (`stored()`), shown to clients
(`public()`, `public_tool_calls()`), and replayed to the model on later turns (`replay()`).


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
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agents import TResponseInputItem
from agents.items import ToolCallItem, ToolCallOutputItem

from backend.chat.tool_errors import is_error_output

NO_RESULT = {"error": "The turn stopped before this tool answered; the change may have been made."}


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


def _output_text(output: Any) -> str:
    """The text of a function_call_output: a string, or a list of content parts."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "\n".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
    return str(output)


def _result(output: Any, is_error: bool) -> Any:
    """A tool result as JSON: the structured content the model saw, or {"error": message}."""
    text = _output_text(output)
    if is_error:
        return {"error": text}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parameters(arguments: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def item_field(item: Any, name: str) -> Any:
    """A field of an SDK item, which arrives as a dict (replayed) or an object (live)."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


@dataclass
class ToolCallLog:
    """The turn's tool calls in the order the model made them, completed as results arrive."""

    called: dict[str, tuple[str, str]] = field(default_factory=dict)  # call_id: name, arguments
    finished: dict[str, ToolCallRecord] = field(default_factory=dict)

    def call(self, item: ToolCallItem) -> None:
        raw = item.raw_item
        if item_field(raw, "type") == "function_call":
            self.called[item_field(raw, "call_id")] = (
                item_field(raw, "name"),
                item_field(raw, "arguments"),
            )

    def output(self, item: ToolCallOutputItem) -> ToolCallRecord | None:
        raw = item.raw_item
        call_id = item_field(raw, "call_id")
        if call_id not in self.called:
            return None
        name, arguments = self.called[call_id]
        output = item_field(raw, "output")
        # A call the task server never answered (down, killed) gets the client's TOOL_FAILED
        # text with no MCP result: report it as an error too, not as a successful string.
        is_error = bool((item.custom_data or {}).get("is_error")) or is_error_output(output)
        record = ToolCallRecord(
            call_id, name, _parameters(arguments), _result(output, is_error), arguments, output
        )
        self.finished[call_id] = record
        return record

    def records(self) -> list[ToolCallRecord]:
        """Finished calls, plus any still waiting for a result: they may have changed data."""
        records = []
        for call_id, (name, arguments) in self.called.items():
            record = self.finished.get(call_id)
            if record is None:
                record = ToolCallRecord(
                    call_id,
                    name,
                    _parameters(arguments),
                    NO_RESULT,
                    arguments,
                    json.dumps(NO_RESULT),
                )
            records.append(record)
        return records


def public_tool_calls(stored: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "tool": call.get("tool"),
            "parameters": call.get("parameters", {}),
            "result": call.get("result"),
        }
        for call in stored
    ]


class StoredMessage(NamedTuple):
    """The columns of a stored message that replay reads (a `Message` row without the rest)."""

    id: int
    role: str
    content: str
    tool_calls: list[dict[str, Any]]


def _replayed_calls(message: StoredMessage) -> list[TResponseInputItem]:
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


def replay(messages: Iterable[StoredMessage]) -> list[TResponseInputItem]:
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
