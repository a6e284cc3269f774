"""Adding tasks: "add buy milk", "remind me to call mom", "I need to renew my passport"."""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import Intent, IntentKind
from backend.chat.offline.intents.rules import Clause, Rule, pattern
from backend.chat.offline.intents.text import NUMBERS
from backend.chat.offline.intents.titles import parse_add_body


def _add(body: str, clause: Clause, count: int | None = None) -> Intent | None:
    tasks = parse_add_body(body.strip(), count=count)
    return Intent(IntentKind.ADD, text=clause.text, tasks=tasks) if tasks else None


def _counted(match: re.Match[str], clause: Clause) -> Intent | None:
    raw = (match["n"] or "").lower()
    count = int(raw) if raw.isdigit() else NUMBERS.get(raw) or None
    return _add(match["body"], clause, count or 0)


def _body(match: re.Match[str], clause: Clause) -> Intent | None:
    return _add(match["body"], clause)


# "I need to X": what people say they have to do. (When X is itself a command, "I want to
# delete task 3", the clause parser reads X first: see clauses.WISH.)
WISH = pattern(
    r"^(?:i\s+|we\s+)?(?:really\s+|still\s+|also\s+|definitely\s+|just\s+)?"
    r"(?:(?:need|have|want|got|am going|have got|'ve got|ought|will need|'ll need)\s+to|"
    r"must|should|gotta|gonna|have gotta|need)\s+"
    r"(?:(?:really|definitely|also|still|probably|just|totally|seriously|finally)\s+)*"
    r"(?:remember\s+to\s+|not\s+forget\s+to\s+|make\s+sure\s+to\s+)?(?P<body>.+)$"
)


def _wish(match: re.Match[str], clause: Clause) -> Intent | None:
    if re.match(
        r"^(?:know|see|check|look|find out|view|hear|ask|say|talk|chat)\b", match["body"], re.I
    ):
        return None  # "I want to see my list" is not a task
    return _add(match["body"], clause)


RULES = (
    Rule(
        "counted add",
        pattern(
            r"^(?:add|create|make|put|insert|new|i have|i've got|here are)\s+"
            r"(?:(?:these|the following)(?:\s+(?:tasks|todos|to-dos|items|things|reminders))?|"
            r"(?P<n>\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
            r"a couple of|a couple|couple of|a few|some|several|more|new|multiple)\s+"
            r"(?:more\s+)?(?:new\s+)?(?:tasks|todos|to-dos|items|things|reminders)|"
            r"(?:tasks|todos|to-dos|items))"
            r"\s*(?:to (?:my |the )?list\s*)?(?:[:\-]|to add:?)?\s*(?P<body>\S.*)$"
        ),
        _counted,
        (
            ("add two tasks: salt and pepper, bread", "add Salt and pepper | Bread"),
            ("add these: eggs, milk", "add Eggs | Milk"),
        ),
    ),
    Rule(
        "add verb",
        pattern(
            r"^(?:add|create|insert|append|enter|include|adda|"
            r"new\s+(?:task|todo|to-do|item|reminder)|"
            r"(?:make|set|set up|create)\s+(?:a\s+|an\s+)?(?:new\s+)?(?:task|todo|to-do|reminder|"
            r"note|item)(?:\s+(?:to|for|called|named|that says|saying|about))?|"
            r"(?:jot|note|write|put|take)\s+down|"
            r"(?:todo|to-do|to do|task|reminder|note to self|memo|new)\s*:)(?![a-z])\s*[:\-]?\s*"
            r"(?P<body>.+)$"
        ),
        _body,
        (
            ("add buy milk", "add Buy milk"),
            ("new todo: water the plants", "add Water the plants"),
            ("create a task called prepare slides", "add Prepare slides"),
            ("add eggs and bread", "add Eggs | Bread"),
        ),
    ),
    Rule(
        "remind me to",
        pattern(
            r"^(?:please\s+)?remind\s+me\s+(?:to|that i (?:need|have|must|should) to|that i|"
            r"about|of|i need to|i have to)\s+(?P<body>.+)$"
        ),
        _body,
        (("remind me to call mom", "add Call mom"),),
    ),
    Rule(
        "remind me",
        pattern(r"^remind\s+me\s+(?P<body>(?!what|which|how|of my|about my).+)$"),
        _body,
        (("remind me dentist on friday", "add Dentist on friday"),),
    ),
    Rule(
        "i need to",
        WISH,
        _wish,
        (
            ("I need to remember to renew my passport", "add Renew my passport"),
            ("I want to see my list", "none"),
            ("I should really call my sister", "add Call my sister"),
        ),
    ),
    Rule(
        "don't let me forget",
        pattern(
            r"^(?:(?:please\s+)?(?:don't|do not|dont|never)\s+(?:let\s+me\s+)?forget\s*:?\s+"
            r"(?:to\s+|about\s+)?|"
            r"remember\s+to\s+|i\s+(?:must|should|can't|cannot|mustn't)\s+(?:not\s+)?forget\s+"
            r"(?:to\s+|about\s+)?|make\s+sure\s+(?:i\s+|to\s+)|"
            r"note\s+that\s+i\s+(?:need|have)\s+to\s+|"
            r"i\s+(?:need|have)\s+to\s+remember\s+to\s+)(?P<body>.+)$"
        ),
        _body,
        (
            ("don't let me forget to pay the electricity bill", "add Pay the electricity bill"),
            ("don't forget: bring the umbrella", "add Bring the umbrella"),
        ),
    ),
    Rule(
        "put X on my list",
        pattern(
            r"^(?:put|stick|throw|pop|place|add|write|get)\s+(?P<body>.+?)\s+"
            r"(?:on|in|to|onto|into)\s+(?:my|the|our)\s+(?:todo\s+|to-do\s+|to do\s+|task\s+|"
            r"shopping\s+)?(?:list|todos|to-dos|tasks|task list|agenda)$"
        ),
        _body,
        (("put dentist appointment on my list", "add Dentist appointment"),),
    ),
)


def parse_add(clause: Clause) -> Intent | None:
    for rule in RULES:
        if (intent := rule.parse(clause)) is not None:
            return intent
    return None
