"""The offline model's wording: short, friendly, and always naming the tasks concerned."""

from __future__ import annotations

from collections.abc import Sequence

from backend.chat.offline.results import TaskInfo

LIST_SHOWN_MAX = 100  # a list reply names every task it shows; beyond this it says how many more

HELP = (
    "I'm the built-in offline assistant: a rule-based helper, not an AI language model, so I "
    "understand the usual ways of managing a todo list, for example:\n"
    '- "add buy milk", "remind me to call mom", "add eggs and bread"\n'
    '- "what\'s left?", "what have I finished?", "show everything"\n'
    '- "mark task 3 as done", "I finished buying milk", "check off the dentist one"\n'
    '- "rename task 2 to buy oat milk", "delete the gym one", "delete all completed tasks"\n'
    "For free-form conversation, whoever runs this service can switch me to a real model: set "
    "OPENAI_API_KEY (and optionally MODEL), or OPENAI_BASE_URL for a local or hosted "
    "OpenAI-compatible server such as Ollama or OpenRouter."
)
GREETING = "Hi! I can add, list, complete, rename and delete your tasks. What would you like to do?"
THANKS = "You're welcome! Anything else on your list?"
BYE = "Bye! Your tasks are saved for next time."
CANCEL = "OK, I'll leave your list as it is."
UNKNOWN = (
    "Sorry, I didn't understand that. I'm a simple rule-based assistant; try something like "
    '"add buy milk", "what\'s left?", "mark task 3 as done" or "delete the gym one" '
    '(or ask "what can you do?").'
)
REOPEN = (
    "I can't mark a task as not done: my tools can only add, list, complete, rename and delete "
    "tasks. You can untick it in the task list instead."
)
NO_REFERENCE = (
    "I'm not sure which task you mean. Tell me its number or some words of its title, "
    'for example "task 3" or "the milk one".'
)


SUGGESTION = 'Did you want me to add "{title}" to your list? Say "add {text}" or "yes" and I will.'


def quoted(task: TaskInfo) -> str:
    return f'"{task.title}" (#{task.id})' if task.title else f"task #{task.id}"


def join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def names(tasks: Sequence[TaskInfo]) -> str:
    return join([quoted(task) for task in tasks])


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def bullet(task: TaskInfo, *, show_status: bool) -> str:
    line = f"- #{task.id} {task.title}"
    if task.description:
        line += f" ({task.description})"
    if show_status and task.completed:
        line += " [done]"
    return line


def task_list(tasks: Sequence[TaskInfo], status: str) -> str:
    if not tasks:
        return {
            "pending": "You have no pending tasks. Nothing left to do!",
            "completed": "You haven't completed any tasks yet.",
        }.get(status, 'Your todo list is empty. Add something with "add buy milk".')
    count = len(tasks)
    if status == "pending":
        head = f"You have {plural(count, 'task')} left:"
    elif status == "completed":
        head = f"You've completed {plural(count, 'task')}:"
    else:
        done = sum(1 for task in tasks if task.completed)
        head = f"You have {plural(count, 'task')}" + (f" ({done} done):" if done else ":")
    lines = [head] + [bullet(task, show_status=status == "all") for task in tasks[:LIST_SHOWN_MAX]]
    if count > LIST_SHOWN_MAX:
        lines.append(f"... and {count - LIST_SHOWN_MAX} more.")
    return "\n".join(lines)


def candidates(tasks: Sequence[TaskInfo], limit: int = 10) -> str:
    shown = [f"#{task.id} {task.title}" for task in tasks[:limit]]
    more = len(tasks) - limit
    return join(shown + ([f"{more} more"] if more > 0 else []))


def no_match(query: str, tasks: Sequence[TaskInfo]) -> str:
    text = f'I couldn\'t find a task matching "{query}".'
    if not tasks:
        return text + " Your list is empty."
    pending = [task for task in tasks if not task.completed] or list(tasks)
    label = (
        "Your pending tasks are"
        if pending is not tasks and len(pending) < len(tasks)
        else ("Your tasks are")
    )
    return f"{text} {label}: {candidates(pending)}."


def ambiguous(query: str, tasks: Sequence[TaskInfo], verb: str) -> str:
    example = f'"{verb} task {tasks[0].id}"'
    lead = (
        f'"{query}" matches {len(tasks)} tasks'
        if query
        else (f"That could be any of {len(tasks)} tasks")
    )
    return f"{lead}: {candidates(tasks)}. Which one do you mean? (You can say {example}.)"


def error_text(error: str | None) -> str:
    return (error or "something went wrong").rstrip(".")
