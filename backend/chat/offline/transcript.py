"""The conversation as the model receives it, cut into turns.

The agent loop hands the model Responses-API input items: user messages, earlier turns replayed
from the database (function calls, their outputs, the assistant's reply) and, within the running
turn, the calls this model already asked for with their outputs. A turn starts at a user message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from backend.chat.offline.results import ToolResult, parse_tool_output


@dataclass
class CallRecord:
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: ToolResult | None = None  # None until its output arrives


@dataclass
class Turn:
    user_text: str
    calls: list[CallRecord] = field(default_factory=list)
    reply: str = ""


@dataclass
class Transcript:
    earlier: list[Turn]
    current: Turn
    fingerprint: str  # differs for every turn of a conversation; seeds unique call ids


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


def _fields(item: Any) -> Callable[[str], Any]:
    """Field access for an item, which arrives as a dict (replayed) or an SDK object."""
    if isinstance(item, dict):
        return item.get
    return lambda name: getattr(item, name, None)


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        return _parsed_text(raw)
    return _parsed(raw)


def _parsed(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


# Every earlier call's arguments are read again on each model call; the planner only reads
# them (never changes them), so each text is parsed once per process.
_parsed_text = lru_cache(maxsize=1024)(_parsed)


def read_transcript(items: str | list[Any]) -> Transcript:
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    turns: list[Turn] = []
    pending: dict[str, CallRecord] = {}
    preamble = Turn(user_text="")  # calls before any user message (not expected; kept harmlessly)
    for item in items:
        get = _fields(item)
        kind, role = get("type"), get("role")
        turn = turns[-1] if turns else preamble
        if role == "user":
            turns.append(Turn(user_text=_content_text(get("content"))))
        elif role == "assistant":
            text = _content_text(get("content"))
            turn.reply = f"{turn.reply}\n{text}".strip() if turn.reply else text
        elif kind == "function_call":
            record = CallRecord(
                call_id=str(get("call_id") or ""),
                name=str(get("name") or ""),
                arguments=_arguments(get("arguments")),
            )
            turn.calls.append(record)
            pending[record.call_id] = record
        elif kind == "function_call_output":
            answered = pending.pop(str(get("call_id") or ""), None)
            if answered is not None:
                answered.result = parse_tool_output(get("output"))
    current = turns[-1] if turns else Turn(user_text="")
    # Earlier turns carry the (unique) ids of their calls, so the fingerprint, and the call ids
    # derived from it, never repeat within a conversation; it ignores the running turn's own
    # calls so it stays the same while the turn goes on.
    digest = hashlib.sha256(str(len(turns)).encode())
    for turn in turns[:-1]:
        digest.update(turn.user_text.encode() + b"\x00")
        for call in turn.calls:
            digest.update(call.call_id.encode() + b"\x01")
    digest.update(current.user_text.encode())
    return Transcript(earlier=turns[:-1], current=current, fingerprint=digest.hexdigest()[:16])
