"""The delete guard: a turn never deletes more tasks than the user's message asks for.

Whatever the model (offline, OpenAI, a local server), each `delete_task` call of a turn passes
through the Agents SDK's tool approval (`FunctionTool.needs_approval`). The message allows a
number of deletes: unlimited for an explicit bulk request ("all", "every", "everything",
"clear my list", "the completed ones"), else the count it states ("both", "three tasks",
"tasks 1, 2 and 3", "eggs, milk and bread"), at least `DELETE_CONFIRM_THRESHOLD` (default 1).
Deletes beyond that are held back: the SDK interrupts the run, and the turn's reply asks the
user to confirm, naming the tasks.

The held calls are stored with the turn as tool calls whose result says
`"status": "awaiting_confirmation"`, so the state lives in the conversation, not in a process:
on the next turn, if the message is a "yes", deletes of exactly those tasks pass (the model sees
the held calls in its history and makes them again; the offline model does so itself). Any
other answer drops them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents import FunctionTool, RunContextWrapper, Tool
from agents.items import ToolApprovalItem

from backend.chat.history import ToolCallRecord, item_field

AWAITING = "awaiting_confirmation"
DELETE_TOOL = "delete_task"
HELD_MESSAGE = (
    "Not deleted: the user's message asked to delete fewer tasks. The user was asked to "
    "confirm; if they answer yes, call delete_task for this task again."
)

_BULK = re.compile(
    r"\b(?:all|every|everything|entire|whole)\b"
    r"|\b(?:clear|empty|wipe|purge|reset)\s+(?:out\s+)?(?:my|the)?\s*(?:todo\s+|to-do\s+)?"
    r"(?:list|tasks|todos|to-dos)\b"
    r"|\b(?:completed|complete|done|finished|checked|ticked|pending|open)\s+"
    r"(?:ones|tasks|items|todos|to-dos)\b"
    # the status after the plural: "the ones I've finished", "tasks that are done"
    r"|\b(?:ones|tasks|items|todos|to-dos)\s+(?:that\s+|which\s+)?(?:i|we|are|were)"
    r"(?:'ve|\s+have)?\s+(?:already\s+)?(?:completed|done|finished|checked off|ticked off)\b",
    re.IGNORECASE,
)
_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_COUNT = re.compile(
    r"\b(?P<n>\d+|two|three|four|five|six|seven|eight)\s+(?:of\s+(?:them|those|my\s+tasks)|"
    r"(?:\w+\s+)?(?:tasks|items|todos|to-dos|ones|things))\b|\b(?:those|these|the)\s+"
    r"(?P<m>two|three|four|five|six|seven|eight)\b",
    re.IGNORECASE,
)
_BOTH = re.compile(r"\bboth\b", re.IGNORECASE)
_IDS = re.compile(r"(?:#|\b(?:tasks?|items?|numbers?|ids?)\s*#?)\s*(\d+)", re.IGNORECASE)
_DELETE_VERB = re.compile(
    r"\b(?:delete|remove|erase|scrap|trash|bin|discard|ditch|drop|get rid of|cancel|clear|"
    r"take|cross out|strike|nuke|kill|toss|dump|lose|forget)\b(?P<object>[^.;!?\n]*)",
    re.IGNORECASE,
)
_NAME_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|\s+plus\s+", re.IGNORECASE)
_YES = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|sure|ok|okay|confirm(?:ed)?|correct|do it|go ahead|please do|"
    r"delete (?:them|it|those)|y)\b(?![^.!]*\b(?:not|don't|keep|no|wait)\b)",
    re.IGNORECASE,
)


def deletes_asked_for(message: str) -> int | None:
    """How many tasks `message` explicitly asks to delete; None: no limit (a bulk request)."""
    if _BULK.search(message):
        return None
    counts = [0]
    for match in _COUNT.finditer(message):
        word = (match["n"] or match["m"]).lower()
        counts.append(int(word) if word.isdigit() else _COUNT_WORDS[word])
    if _BOTH.search(message):
        counts.append(2)
    counts.append(len(set(_IDS.findall(message))))
    for match in _DELETE_VERB.finditer(message):
        # "remove eggs, milk and bread": every name in the object of the verb
        names = [part for part in _NAME_SEPARATOR.split(match["object"]) if part.strip()]
        counts.append(max(1, len(names)))
    return max(counts)


def is_confirmation(message: str) -> bool:
    return len(message.split()) <= 8 and bool(_YES.match(message))


def held_task_ids(history: Sequence[Any]) -> list[int]:
    """The task ids the previous turn held back for confirmation (from its stored calls)."""
    outputs: dict[str, Any] = {}
    held: list[int] = []
    for item in reversed(history):
        role, kind = item_field(item, "role"), item_field(item, "type")
        if role == "user":
            break
        if kind == "function_call_output":
            outputs[str(item_field(item, "call_id"))] = item_field(item, "output")
    for output in outputs.values():
        try:
            result = json.loads(output) if isinstance(output, str) else None
        except ValueError:
            continue
        if isinstance(result, dict) and result.get("status") == AWAITING:
            task_id = result.get("task_id")
            if isinstance(task_id, int):
                held.append(task_id)
    return sorted(set(held))


@dataclass
class DeleteGuard:
    """The deletes one turn may make: `allowed` (None: any number) plus the `confirmed` ids."""

    allowed: int | None
    confirmed: frozenset[int] = frozenset()
    _decisions: dict[str, bool] = field(default_factory=dict)  # call id: needs approval

    @classmethod
    def for_turn(cls, message: str, history: Sequence[Any], threshold: int) -> DeleteGuard:
        asked = deletes_asked_for(message)
        confirmed = frozenset(held_task_ids(history)) if is_confirmation(message) else frozenset()
        return cls(allowed=None if asked is None else max(asked, threshold), confirmed=confirmed)

    async def needs_approval(
        self, context: RunContextWrapper[Any], parameters: dict[str, Any], call_id: str
    ) -> bool:
        if call_id in self._decisions:  # the SDK may ask again about the same call
            return self._decisions[call_id]
        if parameters.get("task_id") in self.confirmed:
            held = False
        else:
            passed = sum(1 for needs in self._decisions.values() if not needs)
            held = self.allowed is not None and passed >= self.allowed
        self._decisions[call_id] = held
        return held


def guard_tools(tools: list[Tool], guard: DeleteGuard | None) -> list[Tool]:
    """The tools with `delete_task` behind `guard`'s approval (unchanged without a guard)."""
    if guard is None:
        return tools
    return [
        replace(tool, needs_approval=guard.needs_approval)
        if isinstance(tool, FunctionTool) and tool.name == DELETE_TOOL
        else tool
        for tool in tools
    ]


def _titles(records: Mapping[str, ToolCallRecord]) -> dict[int, str]:
    titles: dict[int, str] = {}
    for record in records.values():
        result = record.result if isinstance(record.result, dict) else {}
        for task in [result, *(result.get("tasks") or [])]:
            if isinstance(task, dict):
                task_id, title = task.get("id", task.get("task_id")), task.get("title")
                if isinstance(task_id, int) and isinstance(title, str):
                    titles[task_id] = title
    return titles


def hold(interruptions: Sequence[ToolApprovalItem], finished: dict[str, ToolCallRecord]) -> str:
    """Record the held deletes as awaiting confirmation (into `finished`, the turn's calls by
    id) and return the reply that asks for it."""
    titles = _titles(finished)
    done = [
        record
        for record in finished.values()
        if record.tool == DELETE_TOOL
        and isinstance(record.result, dict)
        and record.result.get("status") == "deleted"
    ]
    held: list[str] = []
    for item in interruptions:
        raw = item.raw_item
        call_id = str(item_field(raw, "call_id") or "")
        arguments = str(item_field(raw, "arguments") or "{}")
        try:
            parameters = json.loads(arguments)
        except ValueError:
            parameters = {}
        task_id = parameters.get("task_id") if isinstance(parameters, dict) else None
        result = {"status": AWAITING, "task_id": task_id, "message": HELD_MESSAGE}
        finished[call_id] = ToolCallRecord(
            call_id, DELETE_TOOL, parameters, result, arguments, json.dumps(result)
        )
        title = titles.get(task_id) if isinstance(task_id, int) else None
        held.append(f'"{title}" (#{task_id})' if title else f"task #{task_id}")
    lead = ""
    if done:
        names = ", ".join(
            f'"{r.result.get("title", "")}" (#{r.parameters.get("task_id")})' for r in done
        )
        lead = f"Deleted {names}. "
    listed = held[0] if len(held) == 1 else ", ".join(held[:-1]) + f" and {held[-1]}"
    return (
        f"{lead}That would also delete {listed}, more than your message asked for, so I "
        f'stopped. Reply "yes" to delete {"it" if len(held) == 1 else "them"}, or tell me '
        "which to keep."
    )
