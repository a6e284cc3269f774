"""Finding a task by a few words of its title: stems, typos, and refusing to guess."""

from __future__ import annotations

import pytest

from backend.chat.offline.matching import match_tasks
from backend.chat.offline.results import TaskInfo
from backend.chat.offline.words import close_enough, fix_word, stem

TASKS = [
    TaskInfo(1, "Buy milk"),
    TaskInfo(2, "Buy bread"),
    TaskInfo(3, "Dentist appointment"),
    TaskInfo(4, "Go to the gym"),
    TaskInfo(5, "Wash the dishes"),
    TaskInfo(6, "Call mom"),
    TaskInfo(7, "Call the bank"),
    TaskInfo(8, "Renew passport"),
    TaskInfo(9, "Buy groceries"),
]


def ids(query: str) -> list[int]:
    return [task.id for task in match_tasks(query, TASKS).found]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("buy milk", [1]),
        ("milk", [1]),
        ("buying milk", [1]),  # stems
        ("bought milk", [1]),  # irregular past
        ("the dentist", [3]),
        ("dentsit", [3]),  # a swapped pair of letters
        ("dentist appointmnet", [3]),
        ("gym", [4]),
        ("going to the gym", [4]),
        ("dish", [5]),  # singular meets plural
        ("washing dishes", [5]),
        ("passport", [8]),
        ("pas", []),  # too short to be taken as an abbreviation...
        ("groc", [9]),  # ...but four letters are
        ("called mom", [6]),
        ("I finished buying the milk at the corner shop", [1]),  # the title within the query
        ("buy", [1, 2, 9]),  # several: all reported, none picked
        ("call", [6, 7]),
        ("yoga", []),
        ("", []),
    ],
)
def test_matching(query: str, expected: list[int]) -> None:
    assert ids(query) == expected


def test_an_exact_title_beats_a_longer_one() -> None:
    tasks = [TaskInfo(1, "Milk"), TaskInfo(2, "Buy milk")]
    assert [t.id for t in match_tasks("milk", tasks).found] == [1]


def test_identical_titles_are_ambiguous() -> None:
    tasks = [TaskInfo(1, "Buy milk"), TaskInfo(2, "Buy milk")]
    assert match_tasks("buy milk", tasks).unique is None


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("buying", "buy"),
        ("bought", "buy"),
        ("dishes", "dish"),
        ("groceries", "grocery"),
        ("called", "call"),
        ("planned", "plan"),
        ("making", "mak"),
        ("make", "mak"),
        ("need", "need"),
        ("class", "class"),
        ("going", "go"),
    ],
)
def test_stems(word: str, expected: str) -> None:
    assert stem(word) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("delte", "delete"),
        ("compelte", "complete"),
        ("shwo", "show"),
        ("lsit", "list"),
        ("remvoe", "remove"),
        ("renmae", "rename"),
        ("addd", "add"),
        ("udpate", "update"),
        # real words next to a command word stay as typed
        ("lift", "lift"),
        ("clean", "clean"),
        ("charge", "charge"),
        ("masks", "masks"),
    ],
)
def test_command_typos(typed: str, expected: str) -> None:
    assert fix_word(typed) == expected


def test_short_words_only_forgive_swaps() -> None:
    assert close_enough("mlik", "milk")
    assert not close_enough("silk", "milk")
    assert close_enough("appointmnet", "appointment")
