"""How the offline model reads messages: intents, targets, titles, descriptions, typos."""

from __future__ import annotations

import pytest

from backend.chat.offline.intents import Intent, Ref, RefKind, Target, parse_message


def kinds(message: str) -> list[str]:
    return [intent.kind for intent in parse_message(message)]


def only(message: str) -> Intent:
    intents = parse_message(message)
    assert len(intents) == 1, intents
    return intents[0]


def titles(message: str) -> list[str]:
    intent = only(message)
    assert intent.kind == "add", intent
    return [task.title for task in intent.tasks]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("add buy milk", ["Buy milk"]),
        ("remind me to call mom", ["Call mom"]),
        ("I need to remember to renew my passport", ["Renew my passport"]),
        ("put eggs on my list", ["Eggs"]),
        ("new todo: water the plants", ["Water the plants"]),
        ("Can you add pick up the kids please?", ["Pick up the kids"]),
        ("don't forget to feed the cat", ["Feed the cat"]),
        ("create a task called prepare slides", ["Prepare slides"]),
        ("add a reminder to renew my gym membership", ["Renew my gym membership"]),
        ("jot down buy a birthday card for Tom", ["Buy a birthday card for Tom"]),
        ("add eggs and bread", ["Eggs", "Bread"]),
        ("add three tasks: a, b and c", ["A", "B", "C"]),
        ("add the following: apples; oranges; bananas", ["Apples", "Oranges", "Bananas"]),
        ("add call mom, buy eggs and pay rent", ["Call mom", "Buy eggs", "Pay rent"]),
        ("I need to buy milk and walk the dog", ["Buy milk", "Walk the dog"]),
        # The "and" rule: a task that starts with a verb keeps a non-verb after "and".
        ("add buy eggs, milk and bread", ["Buy eggs, milk and bread"]),
        ("remind me to call mom and dad", ["Call mom and dad"]),
        ("add salt and pepper", ["Salt and pepper"]),
        ("add eggs, salt and pepper", ["Eggs", "Salt", "Pepper"]),
        ('add "Tom and Jerry DVD" and "popcorn"', ["Tom and Jerry DVD", "Popcorn"]),
        ("add two tasks: salt and pepper, bread", ["Salt and pepper", "Bread"]),
        ("add email Sarah about the iPhone case", ["Email Sarah about the iPhone case"]),
        ("add lift weights", ["Lift weights"]),  # a title word is never "fixed" into a command
        ("addd buy stamps", ["Buy stamps"]),
    ],
)
def test_add_titles(message: str, expected: list[str]) -> None:
    assert titles(message) == expected


@pytest.mark.parametrize(
    ("message", "title", "description"),
    [
        ("add buy milk - 2 liters, semi-skimmed", "Buy milk", "2 liters, semi-skimmed"),
        ("add dentist description: Tuesday 3pm", "Dentist", "Tuesday 3pm"),
        ("add report details: due Friday", "Report", "due Friday"),
        ("add walk the dog, description: at 7am", "Walk the dog", "at 7am"),
        ("Add task: Prepare presentation (due Monday)", "Prepare presentation", "due Monday"),
        (
            'add "Plan the party" with description invite everyone',
            "Plan the party",
            "invite everyone",
        ),
        ("remind me to pay rent — before the 5th", "Pay rent", "before the 5th"),
    ],
)
def test_add_with_a_description(message: str, title: str, description: str) -> None:
    intent = only(message)
    assert [(t.title, t.description) for t in intent.tasks] == [(title, description)]


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("what's left?", "pending"),
        ("what have I finished?", "completed"),
        ("show everything", "all"),
        ("show me my tasks", "all"),
        ("list", "all"),
        ("todos", "all"),
        ("what do I need to do today?", "pending"),
        ("anything left?", "pending"),
        ("show completed tasks", "completed"),
        ("which ones are done?", "completed"),
        ("which tasks are still open?", "pending"),
        ("what's next?", "pending"),
        ("what did I complete?", "completed"),
        ("show me what I've done", "completed"),
        ("how many tasks do I have", "all"),
        ("check my list", "all"),
        ("can I see my todo list", "all"),
        ("what's on my list", "all"),
        ("what tasks are not done yet?", "pending"),
        ("shwo my tasks", "all"),
        ("lsit everything", "all"),
    ],
)
def test_list_status(message: str, status: str) -> None:
    intent = only(message)
    assert (intent.kind, intent.status) == ("list", status)


@pytest.mark.parametrize(
    ("message", "kind", "target"),
    [
        ("complete task 3", "complete", Target(ids=(3,))),
        ("mark #3 as done", "complete", Target(ids=(3,))),
        ("mark tasks 1 and 3 as done", "complete", Target(ids=(1, 3))),
        ("task 2 is done", "complete", Target(ids=(2,))),
        ("#2 done", "complete", Target(ids=(2,))),
        ("compelte task 2", "complete", Target(ids=(2,))),
        ("complete taks 2", "complete", Target(ids=(2,))),
        ("mark task 1 as dnoe", "complete", Target(ids=(1,))),
        ("I finished buying milk", "complete", Target(name="buying milk")),
        ("check off the dentist one", "complete", Target(name="dentist")),
        ("the dentist one is done", "complete", Target(name="dentist")),
        ("done with the report", "complete", Target(name="report")),
        ("I called mom", "complete", Target(name="called mom")),
        ("complete everything", "complete", Target(every="all")),
        ("i finished everything", "complete", Target(every="all")),
        ("actually mark it done", "complete", Target(ref=Ref(RefKind.IT))),
        ("it's done", "complete", Target(ref=Ref(RefKind.IT))),
        ("the first one I added is done now", "complete", Target(ref=Ref(RefKind.ADDED, 1))),
        ("the second one is done", "complete", Target(ref=Ref(RefKind.POSITION, 2))),
        ("mark them both as done", "complete", Target(ref=Ref(RefKind.THEM))),
        ("delete task 2", "delete", Target(ids=(2,))),
        ("delte task 3", "delete", Target(ids=(3,))),
        ("scrap the gym one", "delete", Target(name="gym")),
        ("remove milk from my list", "delete", Target(name="milk")),
        ("take the gym task off my list", "delete", Target(name="gym")),
        ("I don't need to go to the gym anymore", "delete", Target(name="go to the gym")),
        ("delete all completed tasks", "delete", Target(every="completed")),
        ("clear the done ones", "delete", Target(every="completed")),
        ("clear my list", "delete", Target(every="all")),
        ("delete the one I just added", "delete", Target(ref=Ref(RefKind.ADDED, -1))),
        ("mark task 3 as not done", "reopen", Target(ids=(3,))),
    ],
)
def test_actions_and_their_targets(message: str, kind: str, target: Target) -> None:
    intent = only(message)
    assert (intent.kind, intent.target) == (kind, target)


@pytest.mark.parametrize(
    ("message", "target", "title", "description"),
    [
        ("rename task 2 to buy oat milk", Target(ids=(2,)), "Buy oat milk", None),
        ("change the milk one to buy oat milk", Target(name="milk"), "Buy oat milk", None),
        ('rename "Gym" to "Yoga class"', Target(name="Gym"), "Yoga class", None),
        ("edit task 2: buy oat milk", Target(ids=(2,)), "Buy oat milk", None),
        ("replace the gym task with yoga class", Target(name="gym"), "Yoga class", None),
        ("rename it to morning run", Target(ref=Ref(RefKind.IT)), "Morning run", None),
        ("update task 2 description to bring photos", Target(ids=(2,)), None, "bring photos"),
        ("add a note to task 2: bring passport", Target(ids=(2,)), None, "bring passport"),
        ("change the description of task 1 to x", Target(ids=(1,)), None, "x"),
    ],
)
def test_updates(message: str, target: Target, title: str | None, description: str | None) -> None:
    intent = only(message)
    assert (intent.kind, intent.target, intent.title, intent.description) == (
        "update",
        target,
        title,
        description,
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("delete the gym task and add yoga class instead", ["delete", "add"]),
        ("add call the plumber and mark it done", ["add", "complete"]),
        ("complete task 1 and delete task 3", ["complete", "delete"]),
        ("add milk. what's left?", ["add", "list"]),
        ("Add pay rent. Then mark buy milk as done.", ["add", "complete"]),
        ("add milk and eggs to my list and show me everything", ["add", "list"]),
        ("I finished buying milk, also add buy bread", ["complete", "add"]),
        ("hi, add milk", ["greet", "add"]),
        # Not two actions: "and" inside an add, and after a verb that is not a command.
        ("add eggs and bread", ["add"]),
        ("add buy milk and finish the report", ["add"]),
        ("add call Dr. Smith", ["add"]),
        ("mark task 1 and 2 as done", ["complete"]),
    ],
)
def test_clauses(message: str, expected: list[str]) -> None:
    assert kinds(message) == expected


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("hi", "greet"),
        ("Good morning!", "greet"),
        ("thanks!", "thanks"),
        ("thanks a lot", "thanks"),
        ("ok", "thanks"),
        ("what can you do?", "help"),
        ("help", "help"),
        ("are you an AI?", "help"),
        ("who made you?", "help"),
        ("bye", "bye"),
        ("the weather is nice today", "unknown"),
        ("buy milk", "unknown"),  # a bare task is not added unasked
        ("", "unknown"),
    ],
)
def test_small_talk_and_what_is_not_understood(message: str, kind: str) -> None:
    assert kinds(message) == [kind]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I'm going to the gym later, put it on my list", ["Going to the gym later"]),
        ("I need to call the bank. Add it to my list", ["Call the bank"]),
    ],
)
def test_it_after_a_sentence_means_that_sentence(message: str, expected: list[str]) -> None:
    assert titles(message) == expected


@pytest.mark.parametrize("message", ["don't add milk", "never mind", "forget it", "cancel that"])
def test_calling_it_off(message: str) -> None:
    assert kinds(message) == ["cancel"]
