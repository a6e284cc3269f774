"""Reading tool outputs as the agent loop hands them back: tolerant of every shape they come in.

Over MCP a result arrives as the JSON of its structured content (`{"task_id": 3, "status":
"created", "title": "Buy milk"}`, `{"tasks": [...], "count": 2}`), sometimes wrapped as
`{"result": ...}`, or as a list of text parts holding that JSON. A failed call arrives as plain
text ("Task 9 not found. ..." or the SDK's "An error occurred while running the tool ...").
Everything here is a pure function of the output, so replaying a conversation gives the same view.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_ERROR_WORDS = re.compile(
    r"\b(error|not found|invalid|failed|cannot|can't|denied|not authenticated|expired|"
    r"must|too long|exceeds?)\b",
    re.IGNORECASE,
)
_SDK_ERROR_PREFIX = re.compile(
    r"^(an error occurred while running the tool\. please try again\. error:\s*|"
    r"error executing tool \w+:\s*|error:\s*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TaskInfo:
    """What a tool result tells about one task; unknown fields stay None."""

    id: int
    title: str
    completed: bool | None = None
    description: str | None = None


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    tasks: tuple[TaskInfo, ...] = ()  # the task changed, or the tasks listed
    status: str | None = None  # "created", "completed", "deleted", "updated" when the tool says
    error: str | None = None
    raw: Any = field(default=None, compare=False)


def _text_of(output: Any) -> str | None:
    """The text inside an output given as parts ([{"type": "text", "text": ...}, ...])."""
    if isinstance(output, dict) and isinstance(text := output.get("text"), str):
        return text
    if isinstance(output, list):
        texts = [_text_of(part) for part in output]
        joined = "\n".join(text for text in texts if text)
        return joined or None
    return None


def _decode(output: Any) -> Any:
    """Structured data when the output holds JSON, else the plain text."""
    if isinstance(output, (list, dict)):
        text = _text_of(output)
        if text is None:
            return output
        output = text
    if not isinstance(output, str):
        return output
    stripped = output.strip()
    if stripped[:1] in "{[":
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return stripped


def _task_from(data: Any) -> TaskInfo | None:
    if not isinstance(data, dict):
        return None
    raw_id = data.get("id", data.get("task_id"))
    if isinstance(raw_id, str) and raw_id.isdigit():
        raw_id = int(raw_id)
    if not isinstance(raw_id, int) or isinstance(raw_id, bool):
        return None
    completed = data.get("completed")
    if not isinstance(completed, bool):
        status = data.get("status")
        completed = True if status == "completed" else None
    description = data.get("description")
    return TaskInfo(
        id=raw_id,
        title=str(data.get("title") or ""),
        completed=completed,
        description=description if isinstance(description, str) else None,
    )


def _error_message(text: str) -> str:
    message = _SDK_ERROR_PREFIX.sub("", text.strip()).strip()
    # The server's hint for language models ("Call list_tasks to see the ids") is not for people.
    message = re.sub(r"\s*Call list_tasks[^.]*\.?", "", message).strip()
    return message or "the tool reported an error"


def parse_tool_output(output: Any) -> ToolResult:
    if isinstance(output, str) and len(output) <= _CACHED_OUTPUT_CHARS:
        return _parse_text_output(output)
    return _parse_output(output)


# Every earlier tool output of the conversation is read again on each model call; a text's
# result depends on the text alone (results are frozen), so each is parsed once per process.
# Long listings are parsed each time, which keeps the cache's memory small.
_CACHED_OUTPUT_CHARS = 8192


@lru_cache(maxsize=1024)
def _parse_text_output(output: str) -> ToolResult:
    return _parse_output(output)


def _parse_output(output: Any) -> ToolResult:
    data = _decode(output)
    if isinstance(data, dict) and set(data) == {"result"}:
        data = data["result"]
        if isinstance(data, str):
            data = _decode(data)
    if isinstance(data, dict):
        if data.get("is_error") or data.get("isError") or "error" in data:
            detail = data.get("error") or data.get("detail") or _text_of(data.get("content")) or ""
            return ToolResult(ok=False, error=_error_message(str(detail)), raw=data)
        listed = data.get("tasks", data.get("items"))
        if isinstance(listed, list):
            tasks = tuple(task for task in map(_task_from, listed) if task is not None)
            return ToolResult(ok=True, tasks=tasks, raw=data)
        task = _task_from(data)
        status = data.get("status") if isinstance(data.get("status"), str) else None
        return ToolResult(ok=True, tasks=(task,) if task else (), status=status, raw=data)
    if isinstance(data, list):
        tasks = tuple(task for task in map(_task_from, data) if task is not None)
        return ToolResult(ok=True, tasks=tasks, raw=data)
    text = "" if data is None else str(data)
    if _ERROR_WORDS.search(text):
        return ToolResult(ok=False, error=_error_message(text), raw=text)
    return ToolResult(ok=True, raw=text)
