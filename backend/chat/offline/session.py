"""Tool calls within one model call: answered from the turn's recorded outputs, in order.

The plan for a message is ordinary code that calls tools and reads their results. It runs from
the start on every model call, and the calls the turn already made are answered from their
recorded outputs, in order; the first call with no output yet stops the run, and that call (with
any others of the same batch) is what the model asks for next (see planner.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.chat.offline.memory import Memory
from backend.chat.offline.results import ToolResult
from backend.chat.offline.transcript import CallRecord


@dataclass(frozen=True)
class ToolRequest:
    name: str
    arguments: dict[str, Any]


@dataclass
class Step:
    """What the model answers: tool calls to run, or (when there are none) the reply."""

    calls: list[ToolRequest] = field(default_factory=list)
    reply: str = ""


class NeedCalls(Exception):
    def __init__(self, calls: list[ToolRequest]) -> None:
        self.calls = calls


class Diverged(Exception):
    """The turn's recorded calls are not the ones this plan makes (another model made them)."""


class ToolSession:
    """Tool calls answered from the turn's recorded outputs; a missing one ends this step."""

    def __init__(self, recorded: list[CallRecord], memory: Memory) -> None:
        self._recorded = recorded
        self._position = 0
        self._memory = memory

    def run(self, requests: list[ToolRequest]) -> list[ToolResult]:
        if not requests:
            return []
        done = self._recorded[self._position : self._position + len(requests)]
        if not done:
            raise NeedCalls(requests)
        if len(done) < len(requests) or any(
            record.name != request.name or record.result is None
            for record, request in zip(done, requests, strict=False)
        ):
            raise Diverged
        self._position += len(requests)
        results = [record.result for record in done]
        for request, result in zip(requests, results, strict=True):
            self._memory.record(request.name, request.arguments, result)  # type: ignore[arg-type]
        self._memory.break_group()
        return results  # type: ignore[return-value]

    def one(self, name: str, **arguments: Any) -> ToolResult:
        return self.run([ToolRequest(name, arguments)])[0]

    def list_tasks(self, status: str = "all") -> ToolResult:
        return self.one("list_tasks", status=status)
