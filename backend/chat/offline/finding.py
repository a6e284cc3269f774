"""Finding the tasks an action is about: by id, by reference, in bulk, or by words."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.chat.offline import replies
from backend.chat.offline.intents import Intent, IntentKind, Ref, RefKind, Target
from backend.chat.offline.intents.text import capitalize
from backend.chat.offline.matching import match_tasks
from backend.chat.offline.memory import Memory
from backend.chat.offline.results import TaskInfo
from backend.chat.offline.session import ToolSession
from backend.chat.offline.words import words


@dataclass
class Found:
    tasks: list[TaskInfo] = field(default_factory=list)
    message: str = ""  # set when there is nothing to act on: why, in words for the person
    # Nothing to act on and nothing more to say: a reference to an earlier clause of the message
    # that found nothing (that clause already said why).
    silent: bool = False


VERB_EXAMPLE = {"complete": "complete", "delete": "delete", "update": "rename", "reopen": "reopen"}


def find(intent: Intent, session: ToolSession, memory: Memory) -> Found:
    """The tasks `intent` is about; remembered as what this clause of the message named."""
    found = _find_target(intent, session, memory)
    memory.named_in_message[memory.clause] = list(found.tasks)
    return found


def _find_target(intent: Intent, session: ToolSession, memory: Memory) -> Found:
    target = intent.target or Target()
    if target.antecedent is not None:
        return _named_earlier(target.antecedent, memory)
    if target.ids:
        return Found([TaskInfo(id=i, title=memory.titles.get(i, "")) for i in target.ids])
    if target.ref:
        return _referred(intent, target.ref, session, memory)
    if target.every:
        listed = session.list_tasks(target.every)
        if not listed.ok:
            return _unreadable(listed.error)
        return (
            _except(target.keep, list(listed.tasks)) if target.keep else Found(list(listed.tasks))
        )
    listed = session.list_tasks("all")
    if not listed.ok:
        return _unreadable(listed.error)
    verb = VERB_EXAMPLE.get(intent.kind, intent.kind)
    if said := intent.extra.get("if_listed"):
        if (unsure := _if_listed(said, intent, target.name, list(listed.tasks))) is not None:
            return unsure
    return _match_name(target.name, list(listed.tasks), intent.kind, verb)


def _if_listed(verb: str, intent: Intent, name: str, tasks: list[TaskInfo]) -> Found | None:
    """ "cancel the dentist" deletes the dentist task only if there is one: with none it may
    be a new task to add, and a task that is itself "Cancel ..." may be meant as done."""
    found = match_tasks(name, tasks).found
    if not found:
        title = capitalize(intent.text)
        return Found(
            message=f'You have no task about "{name}", so I deleted nothing. '
            + replies.SUGGESTION.format(title=title, text=intent.text)
        )
    if all(words(task.title)[:1] == [verb] for task in found):
        task = found[0]
        return Found(
            message=f"Do you want me to delete {replies.quoted(task)} or mark it as done? Say "
            f'"delete task {task.id}" or "complete task {task.id}".'
        )
    return None


def _unreadable(error: str | None) -> Found:
    return Found(message=f"I couldn't read your list: {replies.error_text(error)}.")


def _named_earlier(clause: int, memory: Memory) -> Found:
    """ "it" bound to an earlier clause of the message: what that clause found, nothing else."""
    named = memory.named_in_message.get(clause, [])
    live = [memory.current(task) for task in named if task.id not in memory.deleted]
    if not named:
        return Found(silent=True)
    if not live:
        return Found(message=f"{replies.names(named)} {was(named)} just deleted.")
    return Found(live)


def _referred(intent: Intent, ref: Ref, session: ToolSession, memory: Memory) -> Found:
    resolved = memory.resolve(ref)
    if resolved.problem == "none" and ref.kind == RefKind.POSITION:
        # "delete the second task" with nothing listed yet: the list in its usual order.
        listed = session.list_tasks("all")
        if listed.ok and (picked := ref.pick(listed.tasks)) is not None:
            return Found(picked)
        if listed.ok:
            count = replies.plural(len(listed.tasks), "task")
            return Found(
                message=f"You have only {count}." if listed.tasks else "Your todo list is empty."
            )
    if resolved.problem == "none" and ref.all and intent.kind == IntentKind.COMPLETE:
        # "I finished all of them" with nothing talked about yet: every open task, as "mark
        # everything as done". Never for a delete: "delete all of them" names no task.
        listed = session.list_tasks("pending")
        return Found(list(listed.tasks)) if listed.ok else _unreadable(listed.error)
    if resolved.problem == "none":
        return Found(message=replies.NO_REFERENCE)
    if resolved.problem == "deleted":
        already = "already deleted" if intent.kind == IntentKind.DELETE else "deleted"
        return Found(message=f"{replies.names(resolved.tasks)} {was(resolved.tasks)} {already}.")
    if resolved.problem == "ambiguous":
        verb = VERB_EXAMPLE.get(intent.kind, intent.kind)
        return Found(message=replies.ambiguous("", resolved.tasks, verb))
    return Found(resolved.tasks)


def _except(keep: str, tasks: list[TaskInfo]) -> Found:
    """ "everything except the milk": every task but those matching `keep`; when nothing
    matches, nothing at all (a missed exception must never turn into "everything")."""
    kept = match_tasks(keep, tasks).found
    if not kept:
        return Found(message=f'Nothing on your list matches "{keep}", so I left everything as is.')
    return Found([task for task in tasks if task not in kept])


def was(tasks: list[TaskInfo]) -> str:
    return "was" if len(tasks) == 1 else "were"


def _match_name(name: str, tasks: list[TaskInfo], kind: str, verb: str) -> Found:
    match = match_tasks(name, tasks)
    if match.unique:
        return Found([match.unique])
    if match.found and kind == "complete":
        # Finishing "buy milk" when an old "Buy milk" is already done means the open one.
        still_open = [task for task in match.found if not task.completed]
        if len(still_open) == 1:
            return Found(still_open)
    # "the milk and bread tasks", "eggs and milk": each part on its own, if each is clear.
    parts = [part for part in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", name) if part]
    if len(parts) > 1:
        found: list[TaskInfo] = []
        for part in parts:
            part_match = match_tasks(part, tasks)
            if not part_match.unique:
                break
            found.append(part_match.unique)
        else:
            return Found(list(dict.fromkeys(found)))
    if match.found:
        return Found(message=replies.ambiguous(name, list(match.found), verb))
    return Found(message=replies.no_match(name, tasks))
