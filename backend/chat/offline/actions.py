"""The actions: each intent as tool calls and a reply naming the tasks concerned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backend.chat.offline import replies
from backend.chat.offline.finding import VERB_EXAMPLE, find
from backend.chat.offline.intents import Intent, IntentKind, NewTask, Target, parse_add_body
from backend.chat.offline.matching import match_tasks
from backend.chat.offline.memory import Memory
from backend.chat.offline.results import TaskInfo
from backend.chat.offline.session import ToolRequest, ToolSession
from backend.chat.offline.words import TODO_VERBS, words

MAX_NEW_TASKS = 50  # one message adding more than this is almost surely pasted text


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _add(intent: Intent, session: ToolSession, memory: Memory) -> str:
    requests = []
    for task in intent.tasks[:MAX_NEW_TASKS]:
        arguments: dict[str, Any] = {"title": task.title}
        if task.description:
            arguments["description"] = task.description
        requests.append(ToolRequest("add_task", arguments))
    results = session.run(requests)
    added, failed = [], []
    for task, result in zip(intent.tasks, results, strict=False):
        if result.ok:
            info = result.tasks[0] if result.tasks else TaskInfo(id=0, title=task.title)
            added.append(TaskInfo(info.id, info.title or task.title))
        else:
            failed.append(
                f'I couldn\'t add "{_short(task.title)}": {replies.error_text(result.error)}.'
            )
    if len(intent.tasks) > MAX_NEW_TASKS:
        failed.append(
            f"I added only the first {MAX_NEW_TASKS} of the "
            f"{len(intent.tasks)} tasks you listed; send the rest in another message."
        )
    parts = []
    if len(added) == 1:
        note = ""
        if intent.tasks[0].description and len(intent.tasks) == 1:
            note = f' with the note "{intent.tasks[0].description}"'
        parts.append(f"Added {replies.quoted(added[0])}{note} to your list.")
    elif added:
        parts.append(f"Added {len(added)} tasks: {replies.names(added)}.")
    return " ".join(parts + failed)


def _list(intent: Intent, session: ToolSession, memory: Memory) -> str:
    result = session.list_tasks(intent.status)
    if not result.ok:
        return f"I couldn't read your list: {replies.error_text(result.error)}."
    return replies.task_list(list(result.tasks), intent.status)


def _act_on_each(
    session: ToolSession, tool: str, tasks: list[TaskInfo]
) -> tuple[list[TaskInfo], list[str]]:
    results = session.run([ToolRequest(tool, {"task_id": task.id}) for task in tasks])
    done, failed = [], []
    for task, result in zip(tasks, results, strict=True):
        if result.ok:
            info = result.tasks[0] if result.tasks else task
            done.append(TaskInfo(task.id, info.title or task.title))
        else:
            label = replies.quoted(task) if task.title else f"task #{task.id}"
            failed.append(
                f"I couldn't {VERB_EXAMPLE.get(tool.split('_')[0], 'change')} {label}: "
                f"{replies.error_text(result.error)}."
            )
    return done, failed


def _complete(intent: Intent, session: ToolSession, memory: Memory) -> str:
    found = find(intent, session, memory)
    if found.message or found.silent:
        return found.message
    target = intent.target or Target()
    already = [task for task in found.tasks if task.completed]
    todo = [task for task in found.tasks if not task.completed]
    if not found.tasks:
        return {
            "completed": "You have no completed tasks.",
        }.get(target.every, "There's nothing to complete: your list is empty.")
    if not todo:
        if target.every:
            return "Everything is already done. Nice work!"
        return f"{replies.names(already)} {'was' if len(already) == 1 else 'were'} already done."
    done, failed = _act_on_each(session, "complete_task", todo)
    parts = []
    if len(done) == 1:
        parts.append(f"Nice work! Marked {replies.quoted(done[0])} as done.")
    elif done:
        parts.append(f"Nice work! Marked {len(done)} tasks as done: {replies.names(done)}.")
    if already and not target.every:
        parts.append(
            f"{replies.names(already)} {'was' if len(already) == 1 else 'were'} already done."
        )
    return " ".join(parts + failed)


def _delete(intent: Intent, session: ToolSession, memory: Memory) -> str:
    found = find(intent, session, memory)
    if found.message or found.silent:
        return found.message
    target = intent.target or Target()
    if not found.tasks:
        return {
            "completed": "There are no completed tasks to delete.",
            "pending": "There are no pending tasks to delete.",
        }.get(target.every, "There's nothing to delete: your list is empty.")
    done, failed = _act_on_each(session, "delete_task", found.tasks)
    parts = []
    if len(done) == 1:
        parts.append(f"Deleted {replies.quoted(done[0])}.")
    elif done:
        parts.append(f"Deleted {len(done)} tasks: {replies.names(done)}.")
    return " ".join(parts + failed)


def _update(intent: Intent, session: ToolSession, memory: Memory) -> str:
    found = find(intent, session, memory)
    if found.message or found.silent:
        return found.message
    if len(found.tasks) != 1:
        return (
            replies.ambiguous("", found.tasks, "rename") if found.tasks else (replies.NO_REFERENCE)
        )
    task = found.tasks[0]
    arguments: dict[str, Any] = {"task_id": task.id}
    if intent.title is not None:
        arguments["title"] = intent.title
    if intent.description is not None:
        arguments["description"] = intent.description
    result = session.one("update_task", **arguments)
    label = replies.quoted(task) if task.title else f"task #{task.id}"
    if not result.ok:
        return f"I couldn't update {label}: {replies.error_text(result.error)}."
    new_title = (result.tasks[0].title if result.tasks else "") or intent.title or task.title
    if intent.title is not None:
        old = f'"{task.title}" ' if task.title and task.title != new_title else ""
        text = f'Renamed {old}#{task.id} to "{new_title}".'
        if intent.description is not None:
            text += " Its description is updated too."
        return text
    updated = replies.quoted(TaskInfo(task.id, new_title))
    if intent.description:
        return f'Updated the description of {updated} to "{intent.description}".'
    return f"Cleared the description of {updated}."


def _status(intent: Intent, session: ToolSession, memory: Memory) -> str:
    target = intent.target or Target()
    if target.name:
        listed = session.list_tasks("all")
        if not listed.ok:
            return f"I couldn't read your list: {replies.error_text(listed.error)}."
        match = match_tasks(target.name, listed.tasks)
        if not match.found:
            return replies.no_match(target.name, listed.tasks)
        tasks = list(match.found)
        if len(tasks) == 1:  # "is the gym task done? if so delete it": the one it found
            memory.named_in_message[memory.clause] = tasks
    else:
        found = find(intent, session, memory)
        if found.message or found.silent:
            return found.message
        listed = session.list_tasks("all")
        known = {task.id: task for task in listed.tasks} if listed.ok else {}
        missing = [task for task in found.tasks if task.id not in known]
        if missing:
            return f"I couldn't find {replies.names(missing)} on your list."
        tasks = [known[task.id] for task in found.tasks]
    if intent.extra.get("asks") == "on_list":  # "is X still on my list?"
        if len(tasks) == 1:
            state = "done" if tasks[0].completed else "not done yet"
            return f"Yes, {replies.quoted(tasks[0])} is on your list ({state})."
    elif len(tasks) == 1:
        task = tasks[0]
        if task.completed:
            return f"Yes, {replies.quoted(task)} is done."
        return f"No, {replies.quoted(task)} is not done yet."
    lines = [f"{len(tasks)} tasks match:"]
    lines += [replies.bullet(task, show_status=True) for task in tasks]
    return "\n".join(lines)


def _reopen(intent: Intent, session: ToolSession, memory: Memory) -> str:
    return replies.REOPEN


def suggestion_for(intent: Intent) -> NewTask | None:
    """What to offer to add for a clause not understood that reads like a task ("buy milk")."""
    if intent.kind != IntentKind.UNKNOWN:
        return None
    first = words(intent.text)[:1]
    if first and first[0] in TODO_VERBS and len(intent.text) <= 120:
        tasks = parse_add_body(intent.text)
        if tasks:
            return NewTask(tasks[0].title)
    return None


def _unknown(intent: Intent, session: ToolSession, memory: Memory) -> str:
    if suggestion := suggestion_for(intent):
        return replies.SUGGESTION.format(title=suggestion.title, text=intent.text)
    return replies.UNKNOWN


HANDLERS: dict[str, Callable[[Intent, ToolSession, Memory], str]] = {
    "add": _add,
    "list": _list,
    "complete": _complete,
    "delete": _delete,
    "update": _update,
    "reopen": _reopen,
    "status": _status,
    "unknown": _unknown,
}
