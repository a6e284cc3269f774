"""Deciding the next step of a turn: more tool calls, or the final reply.

The plan for a message is ordinary code that calls tools and reads their results. It runs from
the start on every model call, and the calls the turn already made are answered from their
recorded outputs, in order; the first call with no output yet stops the run, and that call (with
any others of the same batch) is what the model asks for next. Once every call has its output
the plan finishes and its text is the reply. So each step is a pure function of the input items:
no state between calls, and one model object can serve any number of conversations at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.chat.delete_guard import AWAITING, is_confirmation
from backend.chat.offline import replies
from backend.chat.offline.intents import Intent, NewTask, Target, parse_add_body, parse_message
from backend.chat.offline.matching import match_tasks
from backend.chat.offline.memory import Memory
from backend.chat.offline.results import TaskInfo, ToolResult
from backend.chat.offline.transcript import CallRecord, Transcript
from backend.chat.offline.words import TODO_VERBS, words


@dataclass(frozen=True)
class ToolRequest:
    name: str
    arguments: dict[str, Any]


@dataclass
class Step:
    """What the model answers: tool calls to run, or (when there are none) the reply."""

    calls: list[ToolRequest] = field(default_factory=list)
    reply: str = ""


class _NeedCalls(Exception):
    def __init__(self, calls: list[ToolRequest]) -> None:
        self.calls = calls


class _Diverged(Exception):
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
            raise _NeedCalls(requests)
        if len(done) < len(requests) or any(
            record.name != request.name or record.result is None
            for record, request in zip(done, requests, strict=False)
        ):
            raise _Diverged
        self._position += len(requests)
        results = [record.result for record in done]
        for request, result in zip(requests, results, strict=True):
            self._memory.record(request.name, request.arguments, result)  # type: ignore[arg-type]
        self._memory.break_group()
        return results  # type: ignore[return-value]

    def one(self, name: str, **arguments: Any) -> ToolResult:
        return self.run([ToolRequest(name, arguments)])[0]

    def list_tasks(self, status: str = "all") -> ToolResult:
        # The tool answers pages of 50 by default (for language models' context); this model
        # matches names over the whole list, as before the paging, up to the service's bound.
        return self.one("list_tasks", status=status, limit=LIST_LIMIT)


LIST_LIMIT = 500  # backend.tasks.LIST_LIMIT, the most one listing returns


# --- finding the tasks an action is about ----------------------------------------------------


@dataclass
class Found:
    tasks: list[TaskInfo] = field(default_factory=list)
    message: str = ""  # set when there is nothing to act on: why, in words for the person
    # Nothing to act on and nothing more to say: a reference to an earlier clause of the message
    # that found nothing (that clause already said why).
    silent: bool = False


_VERB_EXAMPLE = {"complete": "complete", "delete": "delete", "update": "rename", "reopen": "reopen"}


def _find(intent: Intent, session: ToolSession, memory: Memory) -> Found:
    """The tasks `intent` is about; remembered as what this clause of the message named."""
    found = _find_target(intent, session, memory)
    memory.named_in_message[memory.clause] = list(found.tasks)
    return found


def _find_target(intent: Intent, session: ToolSession, memory: Memory) -> Found:
    target = intent.target or Target()
    verb = _VERB_EXAMPLE.get(intent.kind, intent.kind)
    if target.antecedent is not None:
        named = memory.named_in_message.get(target.antecedent, [])
        live = [memory.current(task) for task in named if task.id not in memory.deleted]
        if not named:
            return Found(silent=True)
        if not live:
            return Found(message=f"{replies.names(named)} {_was(named)} just deleted.")
        return Found(live)
    if target.ids:
        return Found([TaskInfo(id=i, title=memory.titles.get(i, "")) for i in target.ids])
    if target.ref:
        resolved = memory.resolve(target.ref)
        if resolved.problem == "none" and target.ref.startswith("ordinal:"):
            # "delete the second task" with nothing listed yet: the list in its usual order.
            listed = session.list_tasks("all")
            position = int(target.ref.split(":", 1)[1])
            index = position - 1 if position > 0 else len(listed.tasks) + position
            if listed.ok and 0 <= index < len(listed.tasks):
                return Found([listed.tasks[index]])
            if listed.ok:
                return Found(
                    message=f"You have only {replies.plural(len(listed.tasks), 'task')}."
                    if listed.tasks
                    else "Your todo list is empty."
                )
        if resolved.problem == "none":
            return Found(message=replies.NO_REFERENCE)
        if resolved.problem == "deleted":
            if intent.kind == "delete":
                return Found(
                    message=f"{replies.names(resolved.tasks)} {_was(resolved.tasks)} "
                    "already deleted."
                )
            return Found(message=f"{replies.names(resolved.tasks)} {_was(resolved.tasks)} deleted.")
        if resolved.problem == "ambiguous":
            return Found(message=replies.ambiguous("", resolved.tasks, verb))
        return Found(resolved.tasks)
    if target.every:
        listed = session.list_tasks(target.every)
        if not listed.ok:
            return Found(message=f"I couldn't read your list: {replies.error_text(listed.error)}.")
        return Found(list(listed.tasks))
    listed = session.list_tasks("all")
    if not listed.ok:
        return Found(message=f"I couldn't read your list: {replies.error_text(listed.error)}.")
    return _match_name(target.name, list(listed.tasks), intent.kind, verb)


def _was(tasks: list[TaskInfo]) -> str:
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


# --- the intents ------------------------------------------------------------------------------


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
                f"I couldn't {_VERB_EXAMPLE.get(tool.split('_')[0], 'change')} {label}: "
                f"{replies.error_text(result.error)}."
            )
    return done, failed


def _complete(intent: Intent, session: ToolSession, memory: Memory) -> str:
    found = _find(intent, session, memory)
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
    found = _find(intent, session, memory)
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
    found = _find(intent, session, memory)
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
        found = _find(intent, session, memory)
        if found.message or found.silent:
            return found.message
        listed = session.list_tasks("all")
        known = {task.id: task for task in listed.tasks} if listed.ok else {}
        missing = [task for task in found.tasks if task.id not in known]
        if missing:
            return f"I couldn't find {replies.names(missing)} on your list."
        tasks = [known[task.id] for task in found.tasks]
    if len(tasks) == 1:
        task = tasks[0]
        if task.completed:
            return f"Yes, {replies.quoted(task)} is done."
        return f"No, {replies.quoted(task)} is not done yet."
    lines = [f"{len(tasks)} tasks match:"]
    lines += [replies.bullet(task, show_status=True) for task in tasks]
    return "\n".join(lines)


def _reopen(intent: Intent, session: ToolSession, memory: Memory) -> str:
    return replies.REOPEN


def _unknown(intent: Intent, session: ToolSession, memory: Memory) -> str:
    first = words(intent.text)[:1]
    if first and first[0] in TODO_VERBS and len(intent.text) <= 120:
        tasks = parse_add_body(intent.text)
        if tasks:
            title = tasks[0].title
            return replies.SUGGESTION.format(title=title, text=intent.text)
    return replies.UNKNOWN


_HANDLERS: dict[str, Callable[[Intent, ToolSession, Memory], str]] = {
    "add": _add,
    "list": _list,
    "complete": _complete,
    "delete": _delete,
    "update": _update,
    "reopen": _reopen,
    "status": _status,
    "unknown": _unknown,
}
_CHAT_REPLIES = {
    "greet": replies.GREETING,
    "thanks": replies.THANKS,
    "help": replies.HELP,
    "bye": replies.BYE,
    "cancel": replies.CANCEL,
}


# The agent loop allows 10 model calls per turn (backend.chat.turn.MAX_TURNS); an action takes
# at most two (list, then act) and the reply one more.
MAX_ACTIONS = 4


def _run(intents: list[Intent], session: ToolSession, memory: Memory) -> str:
    acts = [intent for intent in intents if intent.kind not in _CHAT_REPLIES]
    skipped = len(acts) - MAX_ACTIONS
    acts = acts[:MAX_ACTIONS]
    if not acts:
        # Small talk only: answer the most useful of it (help beats a greeting).
        kinds = [intent.kind for intent in intents]
        for kind in ("help", "cancel", "greet", "bye", "thanks"):
            if kind in kinds:
                return _CHAT_REPLIES[kind]
        return replies.UNKNOWN
    texts = []
    for clause, intent in enumerate(intents):
        if intent in acts:
            memory.clause = clause
            texts.append(_HANDLERS[intent.kind](intent, session, memory))
    if intents[0].kind == "greet":
        texts.insert(0, "Hi!")
    if skipped > 0:
        texts.append(
            f"That was a lot at once: I did the first {MAX_ACTIONS} things you asked. "
            "Please send the rest again."
        )
    if intents[-1].kind == "thanks" and len(intents) > 1:
        texts.append("You're welcome!")
    separator = "\n" if any("\n" in text for text in texts) else " "
    return separator.join(text for text in texts if text)


_YES = re.compile(
    r"^(?:yes|yeah|yep|yup|sure|ok|okay|please|yes please|please do|do it|go ahead|add it|"
    r"yes add it|yes,? please add it|sure,? add it|ok add it|correct|right|exactly)[.! ]*$",
    re.IGNORECASE,
)
_SUGGESTED = re.compile(r'^Did you want me to add "(?P<title>.+)" to your list\?')


def _accepting_a_suggestion(transcript: Transcript) -> Intent | None:
    """ "yes" right after "Did you want me to add "Buy milk" to your list?" adds it."""
    if not transcript.earlier or not _YES.match(transcript.current.user_text.strip()):
        return None
    match = _SUGGESTED.match(transcript.earlier[-1].reply)
    if match is None:
        return None
    return Intent("add", text=transcript.current.user_text, tasks=(NewTask(match["title"]),))


def _confirming_held_deletes(transcript: Transcript) -> Intent | None:
    """ "yes" right after the delete guard held deletes back: delete exactly those."""
    if not transcript.earlier or not is_confirmation(transcript.current.user_text):
        return None
    held = [
        call.arguments.get("task_id")
        for call in transcript.earlier[-1].calls
        if call.result is not None and call.result.status == AWAITING
    ]
    ids = tuple(dict.fromkeys(i for i in held if isinstance(i, int)))
    if not ids:
        return None
    return Intent("delete", text=transcript.current.user_text, target=Target(ids=ids))


def next_step(transcript: Transcript) -> Step:
    memory = Memory.from_turns(transcript.earlier)
    accepted = _confirming_held_deletes(transcript) or _accepting_a_suggestion(transcript)
    intents = [accepted] if accepted else parse_message(transcript.current.user_text)
    memory.start_turn(shows_lists=any(intent.kind == "list" for intent in intents))
    session = ToolSession(transcript.current.calls, memory)
    try:
        return Step(reply=_run(intents, session, memory))
    except _NeedCalls as need:
        return Step(calls=need.calls)
    except _Diverged:
        return Step(
            reply="I lost track of the steps of this request, so I stopped. Please check "
            "your list and ask again."
        )
