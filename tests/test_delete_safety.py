"""The offline model never deletes a task the user did not name (issue #23).

A property over the offline model in the real agent loop: for every delete phrasing (the public
eval's and a generated sweep), over task lists of 1, 2, 3 and 5 tasks, with and without the
named task present, every task the message does not name is still there afterwards. "Named"
means: the task the phrasing refers to by its words, or, for a bulk phrasing, the tasks its
scope covers ("all completed tasks" names the completed ones).

The fillers share no word with the named task, so a phrasing that deletes one of them deleted
"the other one". The sweep sizes (phrasings x lists) are in `SWEEP_SIZE` for the report.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.eval.cases import Case, load_cases
from tests.eval.harness import Conversation, StoredTask

LIST_SIZES = (1, 2, 3, 5)
FILLERS = ("Pay rent", "Call mom", "Water the plants", "Renew passport", "Walk the dog")

# (title of the named task, how a person refers to it)
NAMED = (
    ("Go to the gym", "the gym"),
    ("Book a table", "the table"),
    ("Buy milk", "milk"),
    ("Email the landlord", "the landlord email"),
)

# Phrasings that name one task; {ref} is how the person refers to it.
ONE_TASK_PHRASINGS = (
    "delete {ref}",
    "remove {ref} from my list",
    "get rid of the {ref} task",
    "I don't need {ref} anymore, you can get rid of it",
    "I don't need {ref} anymore",
    "never mind about {ref}, take that off my list",
    "nvm about {ref}, remove that task",
    "forget about {ref}, delete it",
    "scrap {ref}",
    "trash the {ref} one please",
    "drop {ref} from the list",
    "can you delete {ref}? thanks",
    "please remove {ref}, I don't need it",
    "{ref} is no longer needed, delete it",
    "{ref} is cancelled",
    "erase {ref}. Then delete it",
    "delete {ref} and remove it from the list",
    "no need for {ref} anymore, bin it",
    "I won't do {ref}, just get rid of that",
    "is {ref} done? delete it",
    "mark {ref} as done and then delete it",
    "cross off {ref}, then remove it",
    "take {ref} off my list",
    "kill {ref}",
    "delete {ref} please and thank you",
    "never mind {ref}, I don't need it",
    "remove {ref}, i already went",
    "delete {ref}, I bought it already",
    "cancel {ref}",
    "cancel {ref}, I'll do it next month",
)

# Bulk phrasings that name every completed task.
COMPLETED_PHRASINGS = (
    "delete all completed tasks",
    "remove all done items",
    "clear the done ones",
    "remove completed tasks",
    "delete the finished tasks",
    "get rid of everything that is done",
)

# Bulk phrasings that name every task: nothing is "unnamed", so these check only that the
# turn stays within the list (and they keep working: see test_explicit_bulk_deletes_work).
ALL_PHRASINGS = ("clear my list", "delete all my tasks", "delete everything", "wipe my list")


async def _unnamed_tasks_left_alone(
    messages: list[str],
    seeded: list[dict[str, object]],
    named: Callable[[StoredTask], bool],
    *,
    drop: Callable[[StoredTask], bool] | None = None,
) -> list[str]:
    """Run `messages` over `seeded` (tasks matching `drop` removed first, ids kept); the
    problems found: unnamed tasks deleted or changed."""
    chat = Conversation()
    chat.store.seed(seeded)
    if drop is not None:
        chat.store.tasks = [task for task in chat.store.tasks if not drop(task)]
    before = {task.id: (task.title, task.completed) for task in chat.store.tasks}
    protected = {task.id for task in chat.store.tasks if not named(task)}
    for message in messages:
        await chat.say(message)
    after = {task.id: (task.title, task.completed) for task in chat.store.tasks}
    problems = []
    for task_id in sorted(protected):
        if task_id not in after:
            problems.append(f"deleted unnamed task #{task_id} {before[task_id][0]!r}")
    deleted = [args["task_id"] for name, args in chat.store.calls if name == "delete_task"]
    stray = [task_id for task_id in deleted if task_id in protected]
    if stray and not problems:
        problems.append(f"tried to delete unnamed tasks {stray}")
    if problems:
        problems.append(f"messages {messages!r} over {[t for t, _ in before.values()]!r}")
        problems.append(f"reply: {chat.replies[-1]!r}")
    return problems


def _one_task_lists(title: str, present: bool) -> list[list[dict[str, object]]]:
    """Task lists of each size; the named task is first when present, else only fillers."""
    lists = []
    for size in LIST_SIZES:
        others = [{"title": filler} for filler in FILLERS[: size - 1 if present else size]]
        lists.append(([{"title": title}] if present else []) + others)
    return lists


@pytest.mark.parametrize("phrasing", ONE_TASK_PHRASINGS)
@pytest.mark.parametrize("present", [True, False], ids=["named-present", "named-absent"])
async def test_a_one_task_phrasing_deletes_no_other_task(phrasing: str, present: bool) -> None:
    problems: list[str] = []
    for title, ref in NAMED:
        message = phrasing.format(ref=ref)
        for seeded in _one_task_lists(title, present):
            problems += await _unnamed_tasks_left_alone(
                [message], seeded, lambda task, title=title: task.title == title
            )
    assert not problems, "\n".join(problems)


def _mixed_lists(present: bool) -> list[list[dict[str, object]]]:
    """Lists where every other task is done (done ones present) or none is (absent)."""
    lists = []
    for size in LIST_SIZES:
        lists.append(
            [
                {"title": FILLERS[index], "completed": present and index % 2 == 0}
                for index in range(size)
            ]
        )
    return lists


@pytest.mark.parametrize("phrasing", COMPLETED_PHRASINGS)
@pytest.mark.parametrize("present", [True, False], ids=["done-present", "done-absent"])
async def test_a_delete_completed_phrasing_keeps_every_open_task(
    phrasing: str, present: bool
) -> None:
    problems: list[str] = []
    for seeded in _mixed_lists(present):
        problems += await _unnamed_tasks_left_alone([phrasing], seeded, lambda t: t.completed)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("phrasing", ALL_PHRASINGS)
async def test_explicit_bulk_deletes_work(phrasing: str) -> None:
    for size in LIST_SIZES:
        chat = Conversation()
        chat.store.seed([{"title": title} for title in FILLERS[:size]])
        await chat.say(phrasing)
        assert chat.store.tasks == [], (phrasing, size, chat.replies[-1])


EXCEPT_PHRASINGS = ("delete everything except {ref}", "remove all my tasks but {ref}")


@pytest.mark.parametrize("phrasing", EXCEPT_PHRASINGS)
@pytest.mark.parametrize("present", [True, False], ids=["kept-present", "kept-absent"])
async def test_an_exception_in_a_bulk_delete_is_kept_and_never_widens(
    phrasing: str, present: bool
) -> None:
    """The task named as the exception survives; when no task matches the exception, nothing
    is deleted (a missed exception never becomes "everything")."""
    problems: list[str] = []
    for title, ref in NAMED:
        for seeded in _one_task_lists(title, present):
            chat = Conversation()
            chat.store.seed(seeded)
            await chat.say(phrasing.format(ref=ref))
            left = [task.title for task in chat.store.tasks]
            expected = [title] if present else [entry["title"] for entry in seeded]
            if left != expected:
                problems.append(f"{phrasing.format(ref=ref)!r} over {seeded}: left {left}")
    assert not problems, "\n".join(problems)


# --- the public eval's delete phrasings, over other lists -----------------------------------

_DELETE_WORDS = ("delete", "remove", "rid of", "clear", "scrap", "trash", "erase", "need")
_POSITIONAL = ("first", "second", "last", "third")  # positions change with the list: own cases


def _public_delete_cases() -> list[Case]:
    cases = []
    for case in load_cases():
        text = " ".join(case.messages).lower()
        if case.xfail or not any(word in text for word in _DELETE_WORDS):
            continue
        if any(word in text for word in _POSITIONAL):
            continue
        if case.start and not case.tasks:
            continue  # it empties the whole list: every task is named (see ALL_PHRASINGS)
        if "except" in text:
            continue  # "everything except X" names every other task: see the exception test
        cases.append(case)
    return cases


PUBLIC_CASES = _public_delete_cases()


@pytest.mark.parametrize("case", PUBLIC_CASES, ids=[case.id for case in PUBLIC_CASES])
@pytest.mark.parametrize("present", [True, False], ids=["named-present", "named-absent"])
async def test_a_public_delete_phrasing_deletes_no_other_task(case: Case, present: bool) -> None:
    """The case's own tasks plus fillers up to each list size; the tasks the case expects to
    survive, and every filler, must survive. Without the named tasks: seeded, then removed (so
    the ids of the others stay what the phrasing may mention)."""
    kept = {(task.title, task.completed) for task in case.tasks} | {
        (task.title, True) for task in case.tasks
    }
    named_titles = {task.title for task in case.start if (task.title, task.completed) not in kept}
    problems: list[str] = []
    for size in LIST_SIZES:
        seeded = case.seed() + [{"title": filler} for filler in FILLERS]
        seeded = seeded[: max(size, len(case.start))]
        problems += await _unnamed_tasks_left_alone(
            case.messages,
            seeded,
            lambda task: task.title in named_titles,
            drop=None if present else (lambda task: task.title in named_titles),
        )
    assert not problems, "\n".join(problems)


SWEEP_SIZE = {
    "one-task phrasings x named tasks x list sizes x present/absent": (
        len(ONE_TASK_PHRASINGS) * len(NAMED) * len(LIST_SIZES) * 2
    ),
    "delete-completed phrasings x list sizes x present/absent": (
        len(COMPLETED_PHRASINGS) * len(LIST_SIZES) * 2
    ),
    "delete-all phrasings x list sizes": len(ALL_PHRASINGS) * len(LIST_SIZES),
    "bulk-with-exception phrasings x named tasks x list sizes x present/absent": (
        len(EXCEPT_PHRASINGS) * len(NAMED) * len(LIST_SIZES) * 2
    ),
    "public eval delete cases x list sizes x present/absent": (
        len(PUBLIC_CASES) * len(LIST_SIZES) * 2
    ),
}


@pytest.mark.parametrize(
    ("titles", "message"),
    [
        (["Go to the gym", "Pay rent"], "I don't need the gym anymore, you can get rid of it"),
        (
            ["Go to the gym", "Pay rent"],
            "I don't need to go to the gym anymore, you can get rid of it",
        ),
        (["Book a table", "Call mom"], "never mind about the table, take that off my list"),
    ],
)
async def test_the_issue_sentences_delete_exactly_the_named_task(
    titles: list[str], message: str
) -> None:
    chat = Conversation()
    chat.store.seed(titles)
    await chat.say(message)
    assert [task.title for task in chat.store.tasks] == titles[1:]
    assert [name for name, _ in chat.store.calls].count("delete_task") == 1
