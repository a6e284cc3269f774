"""What the conversation so far says about tasks: which were added, listed or changed, in order.

Rebuilt on every model call from the tool calls and outputs in the input (earlier turns replayed
from the database, then the running turn), so "mark it done" and "the first one I added" find
the task without anything kept in the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.chat.delete_guard import AWAITING
from backend.chat.offline.intents import Intent, IntentKind, Ref, RefKind, parse_message
from backend.chat.offline.matching import match_tasks
from backend.chat.offline.results import TaskInfo, ToolResult
from backend.chat.offline.transcript import Turn

_ACTION_OF_TOOL = {
    "add_task": "added",
    "list_tasks": "listed",
    "complete_task": "completed",
    "delete_task": "deleted",
    "update_task": "updated",
}


@dataclass
class Group:
    """Tasks one step of a turn was about: a batch of adds, one listing, a batch of completes."""

    action: str
    tasks: list[TaskInfo] = field(default_factory=list)
    # A listing made only to find a task by name, not shown as the answer: it names no task, so
    # "it" and "the second one" never point into it.
    lookup: bool = False


@dataclass
class Resolved:
    tasks: list[TaskInfo] = field(default_factory=list)
    # "none" (nothing to refer to), "ambiguous" (the candidates are in tasks) or "deleted" (the
    # tasks referred to are gone: tasks holds them)
    problem: str = ""


class Memory:
    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.titles: dict[int, str] = {}
        self.deleted: set[int] = set()
        self._open_group: tuple[int, str] | None = None  # (turn number, tool) of the last group
        # What each clause of the running message named (by its index in the message's intents),
        # for "it" bound to an earlier clause; see intents.bind_references.
        self.named_in_message: dict[int, list[TaskInfo]] = {}
        self.clause = 0
        self._turn = 0
        self._listings_are_lookups = False

    @classmethod
    def from_turns(cls, turns: list[Turn]) -> Memory:
        memory = cls()
        for turn in turns:
            intents = parse_message(turn.user_text)
            memory.start_turn(shows_lists=any(i.kind == IntentKind.LIST for i in intents))
            first_group = len(memory.groups)
            for call in turn.calls:
                if call.result is not None:
                    memory.record(call.name, call.arguments, call.result)
            memory._remember_found(intents, memory.groups[first_group:])
        return memory

    def _remember_found(self, intents: list[Intent], groups: list[Group]) -> None:
        """ "is X still on my list?", "did I finish X?": the task such a question found is what
        the next "it" means, though the turn only looked it up in a listing."""
        listings = [group for group in groups if group.action == "listed"]
        for intent in intents:
            target = intent.target
            if intent.kind != IntentKind.STATUS or target is None or not target.name:
                continue
            if listings and (found := match_tasks(target.name, listings[-1].tasks).found):
                self.groups.append(Group(action="found", tasks=list(found)))

    def start_turn(self, *, shows_lists: bool) -> None:
        """A new turn; `shows_lists`: whether its message asks to see tasks (else its listings
        are lookups)."""
        self._turn += 1
        self._open_group = None
        self._listings_are_lookups = not shows_lists

    def break_group(self) -> None:
        self._open_group = None

    def record(self, tool: str, arguments: dict[str, Any], result: ToolResult) -> None:
        action = _ACTION_OF_TOOL.get(tool)
        if action is None or not result.ok or result.status == AWAITING:
            return  # a delete the guard held back changed nothing
        tasks = list(result.tasks)
        if not tasks and action != "listed":
            task_id = arguments.get("task_id")
            if isinstance(task_id, int):
                tasks = [TaskInfo(id=task_id, title=self.titles.get(task_id, ""))]
        for task in tasks:
            if task.title:
                self.titles[task.id] = task.title
            if action == "deleted":
                self.deleted.add(task.id)
            elif action == "added":
                self.deleted.discard(task.id)
        key = (self._turn, tool)
        if action != "listed" and self._open_group == key and self.groups:
            self.groups[-1].tasks.extend(tasks)
        else:
            lookup = action == "listed" and self._listings_are_lookups
            self.groups.append(Group(action=action, tasks=tasks, lookup=lookup))
        self._open_group = key if action != "listed" else None

    # --- references ----------------------------------------------------------------------

    def _live(self, tasks: list[TaskInfo]) -> list[TaskInfo]:
        return [self.current(task) for task in tasks if task.id not in self.deleted]

    def current(self, task: TaskInfo) -> TaskInfo:
        title = self.titles.get(task.id, task.title)
        return task if title == task.title else TaskInfo(task.id, title, task.completed)

    def _last_group(self) -> list[TaskInfo]:
        for group in reversed(self.groups):
            if group.lookup:
                continue
            live = self._live(group.tasks)
            if live:
                return live
        return []

    def _last_mentioned(self) -> list[TaskInfo]:
        """The tasks of the most recent group, deleted or not: what "it" and "them" point at.

        Never an older group: when the last tasks talked about are gone, "it" means a gone task,
        not whatever is left of an earlier listing ("the other one").
        """
        for group in reversed(self.groups):
            if group.tasks and not group.lookup:
                return [self.current(task) for task in group.tasks]
        return []

    def _added(self) -> list[TaskInfo]:
        return [task for group in self.groups if group.action == "added" for task in group.tasks]

    def resolve(self, ref: Ref) -> Resolved:
        if ref.kind in (RefKind.IT, RefKind.THEM):
            mentioned = self._last_mentioned()
            tasks = [task for task in mentioned if task.id not in self.deleted]
            if mentioned and not tasks:
                return Resolved(mentioned, problem="deleted")
            if ref.kind == RefKind.THEM or len(tasks) == 1:
                return Resolved(tasks, problem="" if tasks else "none")
            return Resolved(tasks, problem="ambiguous" if tasks else "none")
        if ref.kind == RefKind.ADDED:
            added = self._live(self._added())
            position = ref.position - 1 if ref.position > 0 else len(added) + ref.position
            if 0 <= position < len(added):
                return Resolved([added[position]])
            return Resolved(problem="none")
        if ref.kind == RefKind.POSITION:
            tasks = self._last_group()
            if (picked := ref.pick(tasks)) is not None:
                return Resolved(picked)
            return Resolved(tasks, problem="ambiguous" if tasks else "none")
        return Resolved(problem="none")
