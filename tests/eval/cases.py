"""The public evaluation set: loading the cases and judging a run against them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CASES_FILE = Path(__file__).with_name("cases.yaml")
HOLDOUT_FILE = Path(__file__).with_name("holdout.yaml")
PROBE_FILE = Path(__file__).with_name("probe.yaml")


@dataclass(frozen=True)
class ExpectedTask:
    title: str
    completed: bool = False
    description: str | None = None  # checked only when the case gives one


def _expected(entry: Any) -> ExpectedTask:
    if isinstance(entry, str):
        if entry.startswith("[x] "):
            return ExpectedTask(entry[4:], True)
        return ExpectedTask(entry)
    return ExpectedTask(
        entry["title"], bool(entry.get("completed", False)), entry.get("description")
    )


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    messages: list[str]
    start: list[ExpectedTask] = field(default_factory=list)
    tasks: list[ExpectedTask] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    calls: list[str] | None = None  # tools the last message may use (None: not checked)
    xfail: str | None = None

    def seed(self) -> list[dict[str, Any]]:
        return [
            {"title": t.title, "completed": t.completed, "description": t.description or ""}
            for t in self.start
        ]


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    raw = yaml.safe_load(path.read_text())
    cases = []
    for entry in raw:
        cases.append(
            Case(
                id=entry["id"],
                category=entry["category"],
                messages=list(entry["messages"]),
                start=[_expected(item) for item in entry.get("start", [])],
                tasks=[_expected(item) for item in entry.get("tasks", [])],
                mentions=list(entry.get("mentions", [])),
                absent=list(entry.get("absent", [])),
                calls=entry.get("calls"),
                xfail=entry.get("xfail"),
            )
        )
    ids = [case.id for case in cases]
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    return cases


def _with_real_ids(word: str, ids: list[int] | None) -> str:
    """ "#2" in a case means the case's second task (seeded ones first, then those it created)."""
    if ids is None:
        return word
    return re.sub(
        r"#(\d+)",
        lambda m: f"#{ids[int(m.group(1)) - 1]}" if int(m.group(1)) <= len(ids) else m.group(0),
        word,
    )


def judge(
    case: Case,
    final_tasks: list[dict[str, Any]],
    reply: str,
    last_calls: list[str],
    ids: list[int] | None = None,
) -> list[str]:
    """What is wrong with a run of `case` (empty when it passed). `ids`: the real ids of the
    case's tasks in order, when the store numbers them differently from 1, 2, 3..."""
    problems = []
    got = Counter((t["title"], bool(t["completed"])) for t in final_tasks)
    want = Counter((t.title, t.completed) for t in case.tasks)
    if got != want:
        problems.append(f"tasks: expected {sorted(want.elements())}, got {sorted(got.elements())}")
    for expected in case.tasks:
        if expected.description is None:
            continue
        matching = [t for t in final_tasks if t["title"] == expected.title]
        if not any((t.get("description") or "") == expected.description for t in matching):
            found = [t.get("description") for t in matching]
            problems.append(
                f"description of {expected.title!r}: expected {expected.description!r}, got {found}"
            )
    lowered = reply.lower()
    for word in case.mentions:
        word = _with_real_ids(word, ids)
        if word.lower() not in lowered:
            problems.append(f"reply should mention {word!r}")
    for word in case.absent:
        word = _with_real_ids(word, ids)
        if word.lower() in lowered:
            problems.append(f"reply should not mention {word!r}")
    if case.calls is not None:
        unexpected = [name for name in last_calls if name not in case.calls]
        if unexpected:
            problems.append(f"unexpected tool calls {unexpected} (allowed: {case.calls})")
    if problems:
        problems.append(f"reply was: {reply!r}")
    return problems


def accuracy_table(results: dict[str, list[bool]]) -> str:
    """Per-category pass rate, then the total."""
    lines = [f"{'category':<18} {'passed':>7} {'cases':>6} {'accuracy':>9}"]
    total_passed = total = 0
    for category, outcomes in results.items():
        passed = sum(outcomes)
        total_passed += passed
        total += len(outcomes)
        lines.append(
            f"{category:<18} {passed:>7} {len(outcomes):>6} {100 * passed / len(outcomes):>8.1f}%"
        )
    if total:
        lines.append(
            f"{'TOTAL':<18} {total_passed:>7} {total:>6} {100 * total_passed / total:>8.1f}%"
        )
    return "\n".join(lines)
