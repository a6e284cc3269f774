"""The vocabulary of the grammar: what a clause can ask for, and how it can point at tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeVar

T = TypeVar("T")


class IntentKind(StrEnum):
    ADD = "add"
    LIST = "list"
    STATUS = "status"  # "is the milk done?", "is X still on my list?"
    COMPLETE = "complete"
    DELETE = "delete"
    UPDATE = "update"
    REOPEN = "reopen"
    GREET = "greet"
    THANKS = "thanks"
    HELP = "help"
    BYE = "bye"
    CANCEL = "cancel"
    UNKNOWN = "unknown"


ACTIONS = frozenset(
    {
        IntentKind.ADD,
        IntentKind.LIST,
        IntentKind.STATUS,
        IntentKind.COMPLETE,
        IntentKind.DELETE,
        IntentKind.UPDATE,
        IntentKind.REOPEN,
    }
)
CHAT = frozenset(
    {IntentKind.GREET, IntentKind.THANKS, IntentKind.HELP, IntentKind.BYE, IntentKind.CANCEL}
)


class RefKind(StrEnum):
    """How a reference points at tasks the conversation already showed or touched."""

    IT = "it"  # "it", "that one": the one task last talked about
    THEM = "them"  # "them", "those", "both": the tasks last talked about
    POSITION = "position"  # "the second one", "my first task": by place in the last list
    ADDED = "added"  # "the first one I added", "the one I just added": by order of creation


@dataclass(frozen=True)
class Ref:
    kind: RefKind
    # POSITION: 1-based place in the list, negative from the end (-1 is the last).
    # ADDED: 1 is the first task added in the conversation, -1 the latest.
    position: int = 0
    count: int = 1  # "the first two": two places from `position` on
    # THEM said as "all of them", "they're all done": with nothing talked about yet, a
    # completion means every open task (a delete still asks: it names no task).
    all: bool = False

    def pick(self, items: Sequence[T]) -> list[T] | None:
        """The items at this reference's places, or None when the list is too short."""
        start = self.position - 1 if self.position > 0 else len(items) + self.position
        if start < 0 or start + self.count > len(items):
            return None
        return list(items[start : start + self.count])


StatusFilter = Literal["all", "pending", "completed"]


@dataclass(frozen=True)
class Target:
    """Which task(s) an action is about: one of ids, name, ref or every is set."""

    ids: tuple[int, ...] = ()
    name: str = ""  # some words of a title, matched against the list
    ref: Ref | None = None
    every: StatusFilter | Literal[""] = ""  # bulk: every task, or every pending/completed one
    keep: str = ""  # bulk with an exception: words of the tasks to leave out ("except the milk")
    # "it"/"them" bound to an earlier clause of the same message: that clause's index among the
    # message's intents. The reference means what that clause named, never anything else.
    antecedent: int | None = None

    @property
    def explicit(self) -> bool:
        """Whether it names a task by id, reference or bulk (not just some words of a title)."""
        return bool(self.ids or self.ref or self.every)


@dataclass(frozen=True)
class NewTask:
    title: str
    description: str = ""


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    text: str = ""  # the clause as written
    tasks: tuple[NewTask, ...] = ()  # add
    status: StatusFilter = "all"  # list
    target: Target | None = None  # complete delete update reopen status
    title: str | None = None  # update: the new title
    description: str | None = None  # update: the new description
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def describe(intent: Intent | None) -> str:
    """A short, stable summary of an intent: what a rule's examples are checked against."""
    if intent is None:
        return "none"
    parts = [str(intent.kind)]
    if intent.tasks:
        parts.append(
            " | ".join(
                task.title + (f" ({task.description})" if task.description else "")
                for task in intent.tasks
            )
        )
    if intent.kind == IntentKind.LIST:
        parts.append(f"status={intent.status}")
    target = intent.target
    if target is not None:
        if target.ids:
            parts.append("ids=" + ",".join(str(i) for i in target.ids))
        if target.name:
            parts.append(f"words={target.name}")
        if target.ref is not None:
            position = f":{target.ref.position}" if target.ref.position else ""
            position += f"x{target.ref.count}" if target.ref.count > 1 else ""
            position += "(all)" if target.ref.all else ""
            parts.append(f"ref={target.ref.kind}{position}")
        if target.every:
            parts.append(f"every={target.every}" + (f" keep={target.keep}" if target.keep else ""))
    if intent.title is not None:
        parts.append(f"title={intent.title}")
    if intent.description is not None:
        parts.append(f"description={intent.description}")
    return " ".join(parts)
