"""Renaming and describing: "rename task 2 to call dad", "make the mom task 'Call mom on
Sunday'", "add a note to the vet task: ask about the vaccine"."""

from __future__ import annotations

import re

from backend.chat.offline.intents.complete import DONE_WORDS, UNDONE_WORDS
from backend.chat.offline.intents.kinds import Intent, IntentKind
from backend.chat.offline.intents.rules import Clause, Rule, pattern
from backend.chat.offline.intents.targets import has_marker, parse_target
from backend.chat.offline.intents.text import capitalize, strip_quotes

_FIELD = r"(?P<field>title|name|description|details|detail|notes|note|text|desc|wording|label)"
_EDIT = r"(?:change|update|edit|modify|set|alter|correct|fix|amend|adjust|reword|rewrite)"
_DESCRIPTION_FIELDS = frozenset(
    {"description", "details", "detail", "notes", "note", "desc", "comment"}
)


def _new_value(raw: str) -> str:
    new = strip_quotes(raw.strip(" .!?"))
    new = re.sub(r"^(?:say|read|be|be called|be named)\s+", "", new, flags=re.I)
    return strip_quotes(new)


def _update(match: re.Match[str], clause: Clause, *, loose: bool = False) -> Intent | None:
    raw_target = match["t"]
    target = parse_target(raw_target)
    new = _new_value(match["new"])
    if target is None or not new:
        return None
    if (
        loose
        and (clause.strict or re.match(r"^(?:the\s+)?(?:my\s+)?oil\b", raw_target, re.I))
        and not (target.explicit or has_marker(raw_target))
    ):
        return None  # "change the oil to synthetic" is a task, not a rename
    if re.fullmatch(DONE_WORDS + "|" + UNDONE_WORDS, new, re.I):
        return None  # "change task 3 to done" is a completion, handled there
    field = (match.groupdict().get("field") or "title").lower()
    if field in _DESCRIPTION_FIELDS:
        if re.fullmatch(r"(?:nothing|empty|blank|none)", new, re.I):
            new = ""
        return Intent(IntentKind.UPDATE, text=clause.text, target=target, description=new)
    return Intent(IntentKind.UPDATE, text=clause.text, target=target, title=capitalize(new))


def _loose(match: re.Match[str], clause: Clause) -> Intent | None:
    return _update(match, clause, loose=True)


def _add_note(match: re.Match[str], clause: Clause) -> Intent | None:
    if re.search(r"\bwith$", match["t"], re.I):
        return None  # "add buy paint with the note: ..." adds a task with a description
    return _update(match, clause)


def _clear_description(match: re.Match[str], clause: Clause) -> Intent | None:
    target = parse_target(match["t"])
    if target is None:
        return None
    return Intent(IntentKind.UPDATE, text=clause.text, target=target, description="")


def _fix_pending(match: re.Match[str], clause: Clause) -> Intent | None:
    """ "fix the typo in X": the new wording comes in the next clause ("it should be 'Y'")."""
    target = parse_target(match["t"])
    return Intent(IntentKind.UPDATE, text=clause.text, target=target) if target else None


_TO = r"\s*(?:\s(?:to|into|as|->|=>|to say|to read)\s|:|=)\s*"
RULES = (
    Rule(
        "rename X to Y",
        pattern(
            r"^(?:rename|retitle|relabel|re-name|re-title)\s+(?P<t>.+?)\s+(?:to|as|into|"
            r"->|=>)\s+(?P<new>.+)$"
        ),
        _update,
        (("rename task 1 to evening swim", "update ids=1 title=Evening swim"),),
    ),
    Rule(
        "change the title of X to Y",
        pattern(
            r"^"
            + _EDIT
            + r"\s+(?:the\s+)?"
            + _FIELD
            + r"\s+(?:of|for|on|in)\s+(?P<t>.+?)"
            + _TO
            + r"(?P<new>.+)$"
        ),
        _update,
        (("change the description of task 2 to after 5pm", "update ids=2 description=after 5pm"),),
    ),
    Rule(
        "change X's title to Y",
        pattern(r"^" + _EDIT + r"\s+(?P<t>.+?)(?:'s|s')?\s+" + _FIELD + _TO + r"(?P<new>.+)$"),
        _update,
        (("change task 2's title to call dad", "update ids=2 title=Call dad"),),
    ),
    Rule(
        "add a note to X: Y",
        pattern(
            r"^(?:add|put|attach|set|write|give|include)\s+(?:a\s+|an\s+|the\s+|some\s+)?"
            r"(?:new\s+)?(?P<field>description|details|detail|note|notes|comment|desc)\s+"
            r"(?:to|on|for)\s+(?P<t>.+?)(?:\s*:\s*|\s+saying\s+|\s+that says\s+|\s+-\s+|"
            r"\s+reading\s+|\s+of\s+|\s+as\s+)(?P<new>.+)$"
        ),
        _update,
        (
            (
                "add a note to call the vet: ask about the vaccine",
                "update words=call the vet description=ask about the vaccine",
            ),
        ),
    ),
    Rule(
        "give X a note Y",
        pattern(
            r"^(?:give|add)\s+(?P<t>.+?)\s+(?:a|the)\s+(?P<field>description|note|details)"
            r"\s*(?::|saying|of|-)?\s*(?P<new>.+)$"
        ),
        _add_note,
        (
            ("give task 3 a note: bring id", "update ids=3 description=bring id"),
            ("add buy paint with the note: blue", "none"),
        ),
    ),
    Rule(
        "make the X task 'Y'",
        pattern(
            r"^(?:make|turn)\s+(?P<t>.+?\s+(?:task|one|item))\s+(?:into\s+)?(?P<new>[\"'].+[\"'])$"
        ),
        _update,
        (("make the mom task 'Call mom on Sunday'", "update words=mom title=Call mom on Sunday"),),
    ),
    Rule(
        "change X to Y",
        pattern(
            r"^" + _EDIT + r"\s+(?P<t>.+?)(?:\s+(?:to|into|->|=>|so (?:that )?it (?:says|reads)|"
            r"to say|to read)\s+|\s*:\s*)(?P<new>.+)$"
        ),
        _loose,
        (
            ("change meeting at 3 to meeting at 4", "update words=meeting at 3 title=Meeting at 4"),
            ("change the oil to synthetic", "none"),
        ),
    ),
    Rule(
        "replace X with Y",
        pattern(r"^(?:replace|swap|switch)\s+(?P<t>.+?)\s+(?:with|for|by)\s+(?P<new>.+)$"),
        _loose,
        (("replace task 2 with call dad", "update ids=2 title=Call dad"),),
    ),
    Rule(
        "call it Y",
        pattern(
            r"^(?:call|name|title)\s+(?P<t>it|that|that one|this one|this|task\s*#?\d+|#\d+)"
            r"\s+(?P<new>.+)$"
        ),
        _update,
        (("call it morning run", "update ref=it title=Morning run"),),
    ),
    Rule(
        "it should be Y",
        pattern(
            r"^(?P<t>it|that|task\s*#?\d+|#\d+|the\s+.+?\s+(?:one|task))\s+should\s+"
            r"(?:be|say|read)\s+(?:called\s+|named\s+)?(?P<new>.+)$"
        ),
        _update,
        (("it should be 'Buy bread'", "update ref=it title=Buy bread"),),
    ),
    Rule(
        "remove the description of X",
        pattern(
            r"^(?:remove|delete|clear|drop)\s+(?:the\s+)?(?:description|details|"
            r"notes?)\s+(?:of|from|on)\s+(?P<t>.+)$"
        ),
        _clear_description,
        (("clear the description of task 2", "update ids=2 description="),),
    ),
    Rule(
        "fix the typo in X",
        pattern(
            r"^(?:fix|correct)\s+(?:the\s+|a\s+)?(?:typo|spelling|mistake)\s+(?:in|of|on)\s+(?P<t>.+)$"
        ),
        _fix_pending,
        (("fix the typo in buy bred", "update words=buy bred"),),
    ),
)
