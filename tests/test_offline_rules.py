"""Every rule of the offline grammar, run on its own examples (the examples are its tests)."""

from __future__ import annotations

import pytest

from backend.chat.offline.intents import (
    add,
    chat,
    complete,
    delete,
    labels,
    listing,
    remarks,
    targets,
    update,
)
from backend.chat.offline.intents.kinds import Intent, IntentKind, describe
from backend.chat.offline.intents.rules import Clause, Rule

RULE_SETS: dict[str, tuple[Rule, ...]] = {
    "add": add.RULES,
    "status": listing.STATUS_RULES,
    "list": listing.RULES,
    "complete": complete.RULES,
    "delete": delete.RULES,
    "update": update.RULES,
}
EXAMPLES = [
    pytest.param(rule, text, expected, id=f"{module}: {rule.name}: {text}")
    for module, rules in RULE_SETS.items()
    for rule in rules
    for text, expected in rule.examples
]


def test_every_rule_has_examples() -> None:
    missing = [rule.name for rules in RULE_SETS.values() for rule in rules if not rule.examples]
    assert not missing


def test_rule_names_are_unique() -> None:
    names = [rule.name for rules in RULE_SETS.values() for rule in rules]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("rule", "text", "expected"), EXAMPLES)
def test_a_rule_reads_its_examples(rule: Rule, text: str, expected: str) -> None:
    assert describe(rule.parse(Clause(text))) == expected


@pytest.mark.parametrize(("text", "expected"), labels.EXAMPLES)
def test_a_labelled_add_reads_its_examples(text: str, expected: str) -> None:
    assert describe(labels.parse_labelled_add(text)) == expected


@pytest.mark.parametrize(("text", "action"), remarks.EXAMPLES)
def test_a_remark_after_a_comma_leaves_the_action_before_it(text: str, action: str) -> None:
    split = remarks.split_remark(text)
    assert (split[0] if split else "") == action


@pytest.mark.parametrize(("text", "kind"), chat.EXAMPLES)
def test_small_talk_reads_its_examples(text: str, kind: str) -> None:
    intent = chat.parse_chat(text)
    assert intent is not None and intent.kind == kind


@pytest.mark.parametrize(("text", "expected"), targets.EXAMPLES)
def test_a_target_reads_its_examples(text: str, expected: str) -> None:
    target = targets.parse_target(text)
    assert describe(Intent(IntentKind.COMPLETE, target=target)) == f"complete {expected}"
