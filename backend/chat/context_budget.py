"""Keep each model request within `CONTEXT_TOKENS`, however long the conversation.

Works on the Chat Completions request itself (`messages` and `tools`), just before it is sent, so
it sees exactly what the provider will see: the instructions, the tool schemas, the replayed
history and this turn's own tool calls.

Tokens are estimated from bytes (`BYTES_PER_TOKEN`, on the safe side for JSON-heavy English
text); nothing downloads a tokenizer. The rules, applied until the request fits:

1. the current turn (from the newest user message on) is always sent whole;
2. tool outputs of earlier turns are replaced by a one-line summary, oldest turn first
   (a listing becomes "Listed 50 of 300 tasks (ids 1-50) ..."; small results such as
   `{"task_id": 4, "status": "created", "title": "Buy milk"}` are already compact and stay);
3. the oldest turns are dropped whole (a tool call never loses its output).

`fit(..., hard=True)` is the retry after a provider said the context was too long: the budget
becomes half of the refused request (or of CONTEXT_TOKENS, if smaller) and every earlier tool
output is summarised first.
"""

from __future__ import annotations

import json
from typing import Any

BYTES_PER_TOKEN = 3
# Results up to this size are kept as they are: a summary would not be shorter.
SMALL_OUTPUT_BYTES = 300

Message = dict[str, Any]


def estimated_tokens(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode()) // BYTES_PER_TOKEN + 1


def _turns(messages: list[Message]) -> tuple[list[Message], list[list[Message]]]:
    """The leading system messages, and the rest split into turns (each starts with a user)."""
    head: list[Message] = []
    turns: list[list[Message]] = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            turns.append([message])
        elif turns:
            turns[-1].append(message)
        else:
            head.append(message)
    return head, turns


def _tool_names(turn: list[Message]) -> dict[str, str]:
    names = {}
    for message in turn:
        for call in message.get("tool_calls") or []:
            names[str(call.get("id"))] = str((call.get("function") or {}).get("name", "tool"))
    return names


def summarise_output(tool: str, content: Any) -> str:
    """A one-line stand-in for an old tool output the model no longer needs in full."""
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        ids = [task.get("id") for task in data["tasks"] if isinstance(task, dict)]
        total = data.get("total", len(ids))
        shown = f" (ids {ids[0]}-{ids[-1]})" if ids else ""
        return (
            f"[earlier result, shortened] Listed {len(ids)} of {total} tasks{shown}. "
            "Call list_tasks again for the current list."
        )
    if isinstance(data, dict) and "error" in data:
        return f"[earlier result, shortened] {tool} failed."
    return f"[earlier result, shortened] {tool} returned {len(text)} characters."


def _summarised(turn: list[Message]) -> list[Message]:
    names = _tool_names(turn)
    result = []
    for message in turn:
        content = message.get("content")
        if message.get("role") == "tool" and estimated_tokens(content) * BYTES_PER_TOKEN > (
            SMALL_OUTPUT_BYTES
        ):
            tool = names.get(str(message.get("tool_call_id")), "tool")
            message = {**message, "content": summarise_output(tool, content)}
        result.append(message)
    return result


def fit(
    messages: list[Message], tools: Any, budget_tokens: int, *, hard: bool = False
) -> list[Message]:
    """The messages to send: within the budget when at all possible (see the module doc)."""
    budget = budget_tokens
    if hard:  # the provider's window is smaller than we thought: half of what was refused
        budget = min(budget, estimated_tokens(messages) + estimated_tokens(tools or [])) // 2
    head, turns = _turns(messages)
    if not turns:
        return messages
    current, earlier = turns[-1], turns[:-1]
    fixed = estimated_tokens(head) + estimated_tokens(current) + estimated_tokens(tools or [])

    def total() -> int:
        return fixed + sum(estimated_tokens(turn) for turn in earlier)

    if hard:
        earlier = [_summarised(turn) for turn in earlier]
    for index in range(len(earlier)):
        if total() <= budget:
            break
        earlier[index] = _summarised(earlier[index])
    while earlier and total() > budget:
        earlier.pop(0)
    return [*head, *(message for turn in earlier for message in turn), *current]
