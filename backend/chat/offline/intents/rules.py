"""A rule of the grammar: a named pattern, what it builds, and examples that are its tests.

Each intent module lists its rules in the order they are tried; the first rule whose pattern
matches and whose `build` accepts the match gives the clause's intent. `examples` pairs a
clause (as the rule sees it: fillers such as "please" already removed) with `describe()` of the
intent it must give; tests/test_offline_rules.py runs every example of every rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backend.chat.offline.intents.kinds import Intent


@dataclass(frozen=True)
class Clause:
    text: str  # cleaned: fillers and request words ("can you", "please") removed
    # Strict while deciding whether a segment starts a new clause ("and" inside a task title
    # must not split it): only unmistakable phrasings count then.
    strict: bool = False
    # A remark followed after a comma ("forget the gym, I cancelled my membership"): the
    # person is talking about a task, so a verb that also means other things names one.
    remarked: bool = False


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str], Clause], Intent | None]
    examples: tuple[tuple[str, str], ...] = ()

    def parse(self, clause: Clause) -> Intent | None:
        match = self.pattern.match(clause.text)
        return self.build(match, clause) if match else None


def first_match(rules: Sequence[Rule], clause: Clause) -> Intent | None:
    for rule in rules:
        if (intent := rule.parse(clause)) is not None:
            return intent
    return None


def pattern(text: str) -> re.Pattern[str]:
    """Every pattern of the grammar ignores case."""
    return re.compile(text, re.IGNORECASE)
