"""Completing and reopening: "mark task 3 as done", "I finished the report", "bought the milk".

Two rule lists: `STRICT_RULES` are unmistakable ("complete X", "mark X as done") and are tried
before listing; `RULES` add the looser readings ("X done", "I called the dentist") tried last.
"""

from __future__ import annotations

import re
from dataclasses import replace

from backend.chat.offline.intents.kinds import Intent, IntentKind, RefKind, Target
from backend.chat.offline.intents.rules import Clause, Rule, pattern
from backend.chat.offline.intents.targets import NAME_SUFFIX, has_marker, parse_target
from backend.chat.offline.lemmas import past_tense_lemma
from backend.chat.offline.words import TODO_VERBS, stem, words

DONE_WORDS = (
    r"done|complete|completed|finished|checked|checked off|ticked|ticked off|crossed off|"
    r"taken care of|sorted|sorted out|handled|dealt with|over|accomplished|achieved|ready|"
    r"out of the way|all set|finito|complete now"
)
UNDONE_WORDS = (
    r"not done|undone|incomplete|pending|unfinished|not complete|not completed|not finished|"
    r"open|uncompleted|to do|todo|active|not done yet|outstanding"
)
# "X is no longer needed" is a delete, said as a state.
_GONE_WORDS = frozenset(
    "cancelled|canceled|no longer needed|not needed|not needed anymore|no longer relevant|"
    "irrelevant|obsolete|off".split("|")
)
# Said after what was done: "this morning", "already", "today".
_WHEN = re.compile(
    r"(?:\s+(?:already|just now|today|yesterday|earlier|finally|at last|too|as well|"
    r"this (?:morning|afternoon|evening|week)|last (?:night|week)|on (?:monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday)))+$",
    re.IGNORECASE,
)


def _intent(kind: IntentKind, clause: Clause, target: Target | None) -> Intent | None:
    return Intent(kind, text=clause.text, target=target) if target else None


def _reopen(match: re.Match[str], clause: Clause) -> Intent | None:
    target = parse_target(match["t"])
    if target and (not clause.strict or target.explicit or has_marker(match["t"])):
        return _intent(IntentKind.REOPEN, clause, target)
    return None


def _mark(match: re.Match[str], clause: Clause) -> Intent | None:
    undone = re.fullmatch(UNDONE_WORDS, match["s"], re.IGNORECASE)
    kind = IntentKind.REOPEN if undone else IntentKind.COMPLETE
    return _intent(kind, clause, parse_target(match["t"]))


def _complete_target(match: re.Match[str], clause: Clause) -> Intent | None:
    return _intent(IntentKind.COMPLETE, clause, parse_target(match["t"] or match["t2"]))


# Verbs that also mean other things ("check my list", "close the window"): they complete only
# a task named by id, reference or bulk, or with a task word.
_WEAK_VERBS = frozenset(
    "tick check close finish resolve finalize finalise wrap up knock out accomplish".split(" ")
)


def _complete_verb(match: re.Match[str], clause: Clause) -> Intent | None:
    verb = match["v"].lower()
    weak = verb in _WEAK_VERBS
    target = parse_target(match["t"])
    if target and target.every and weak and not re.search(r"\b(?:all|every)", clause.text, re.I):
        return None  # "check my list" asks to see it
    if target and (
        not weak
        or target.explicit
        or has_marker(match["t"])
        or (not clause.strict and verb in {"finish", "tick"})
    ):
        return _intent(IntentKind.COMPLETE, clause, target)
    return None


def _i_did(match: re.Match[str], clause: Clause) -> Intent | None:
    target = parse_target(_WHEN.sub("", match["t"]))
    if target and (not clause.strict or target.explicit):
        return _intent(IntentKind.COMPLETE, clause, target)
    return None


def _is_done(match: re.Match[str], clause: Clause) -> Intent | None:
    target = parse_target(match["t"])
    if not target or (clause.strict and not target.explicit):
        return None
    if target.ref and target.ref.kind == RefKind.THEM and match["all"]:
        # "they're all done": as "all of them are done"
        target = replace(target, ref=replace(target.ref, all=True))
    status = match["s"].lower()
    if status.startswith(("not", "still")):
        return _intent(IntentKind.REOPEN, clause, target)
    if status in _GONE_WORDS:
        return _intent(IntentKind.DELETE, clause, target)
    return _intent(IntentKind.COMPLETE, clause, target)


def _loose(match: re.Match[str], clause: Clause) -> Intent | None:
    return None if clause.strict else _complete_target(match, clause)


# Past tenses that say something other than "I did it": "I needed milk", "added the task".
_NOT_COMPLETIONS = frozenset(
    "needed wanted started tried decided planned hoped liked loved hated used forgot added "
    "created asked meant thought said told guessed wondered noticed realized realised expected "
    "deleted removed renamed updated mentioned learned heard saw changed moved edited marked "
    "listed typed missed skipped postponed delayed scheduled failed promised agreed offered "
    "refused happened intended chose forgot lost meant".split()
)


def is_a_completion(word: str) -> bool:
    """Whether `word` is a past tense that says a task was done ("called", "paid", "went")."""
    lowered = word.lower()
    return past_tense_lemma(lowered) is not None and lowered not in _NOT_COMPLETIONS


def _past_tense(match: re.Match[str], clause: Clause) -> Intent | None:
    """ "I called the dentist already", "went to the post office": the task, in the base form."""
    if clause.strict:
        return None
    verb = match["v"].lower()
    lemma = past_tense_lemma(verb)
    if lemma is None or verb in _NOT_COMPLETIONS:
        return None
    said_i = bool(re.match(r"^(?:i|we)\b", clause.text, re.I))
    irregular = lemma != verb  # "spoke", "went": no other reading
    if not (said_i or irregular) and stem(lemma) not in TODO_VERBS:
        return None  # "Emailed the landlord" yes (a todo verb), "Baked beans" no
    rest = _WHEN.sub("", match["rest"])
    if re.match(r"^(?:that|about|you|it was|on|to\s+(?:be|do|have|add|make|get)\b)", rest, re.I):
        return None  # "I told you that...", "I meant to do..." ("went to the bank" is a task)
    name = NAME_SUFFIX.sub("", f"{lemma} {rest}").strip()
    return _intent(IntentKind.COMPLETE, clause, Target(name=name)) if words(name) else None


# "rent's paid", "the tickets are booked": a state that is the task's own verb, done. Not the
# states that say something else ("the milk is spoiled" is no task; "is needed" is not done).
_NOT_DONE_STATES = _NOT_COMPLETIONS | frozenset(
    "spoiled spoilt broken gone lost stuck closed locked tired bored worried confused late "
    "overdue due pending supposed allowed required needed expected married named titled".split()
)


def _is_past_participle(match: re.Match[str], clause: Clause) -> Intent | None:
    """ "rent's paid", "the car is washed": the task is the verb's base form and the subject
    ("Pay rent", "Wash the car")."""
    if clause.strict:
        return None
    participle = match["p"].lower()
    lemma = past_tense_lemma(participle)
    if lemma is None or participle in _NOT_DONE_STATES:
        return None
    if re.fullmatch(r"i|we|you|he|she|everyone|everybody", match["t"], re.I):
        return None  # "we're booked", "she's married": about people, not a task
    target = parse_target(match["t"])
    if target is None:
        return None
    if target.explicit and participle in {"called", "named", "titled", "labelled", "labeled"}:
        return None  # "it's called ...": what a thing is called
    if target.explicit:  # "task 2 is paid", "it's booked": the task named, done
        return _intent(IntentKind.COMPLETE, clause, target)
    name = f"{lemma} {target.name}"
    return _intent(IntentKind.COMPLETE, clause, Target(name=name))


# "the rent is", "rent's", "the tickets have been": a subject (the task) and its "is", which both
# "X is done" and "X is paid" begin with.
_SUBJECT_IS = (
    r"^(?P<t>.+?)\s*(?:\s(?:is|are|was|were|has been|have been|got|is now|are now|'s|"
    r"'re)|'s|'re)\s+"
)


_REOPEN = Rule(
    "reopen X",
    pattern(
        r"^(?:reopen|re-open|uncomplete|un-complete|unmark|un-mark|uncheck|un-check|untick|"
        r"un-tick|unfinish|undo|restore|revive|bring back|resurrect)\s+(?P<t>.+)$"
    ),
    _reopen,
    (("reopen task 2", "reopen ids=2"),),
)
STRICT_RULES = (
    _REOPEN,
    Rule(
        "mark X as done",
        pattern(
            r"^(?:mark|set|flag|put|make|move|tag|label|switch|change|update|turn)\s+(?P<t>.+?)"
            r"\s+(?:as\s+|to\s+|into\s+|back\s+to\s+|as\s+being\s+)?"
            r"(?P<s>" + UNDONE_WORDS + "|" + DONE_WORDS + r")$"
        ),
        _mark,
        (
            ("mark task 3 as done", "complete ids=3"),
            ("mark the milk one as not done", "reopen words=milk"),
        ),
    ),
    Rule(
        "got X done",
        pattern(
            r"^(?:i\s+|we\s+)?(?:(?:finally|just|already|have|'ve)\s+)*(?:got|gotten)\s+"
            r"(?P<t>.+?)\s+(?:done|finished|sorted|sorted out|out of the way|over with)"
            r"(?:\s+(?:already|today|finally|at last))?$"
        ),
        _complete_target,
        (("finally got the tax return done", "complete words=tax return"),),
    ),
    Rule(
        "done: X",
        pattern(r"^(?:done|finished|completed|complete)\s*[:\-]\s*(?P<t>.+)$"),
        _complete_target,
        (("done: task 4", "complete ids=4"),),
    ),
    Rule(
        "complete X",
        pattern(
            r"^(?P<v>complete|finish|close|tick off|check off|cross off|strike off|tick|check|"
            r"finalize|finalise|resolve|wrap up|knock out|knock off|accomplish)\s+(?P<t>.+?)"
            r"(?:\s+off)?(?:\s+(?:my|the)\s+(?:todo\s+)?list)?$"
        ),
        _complete_verb,
        (
            ("complete task 2", "complete ids=2"),
            ("tick off water the plants", "complete words=water the plants"),
            ("check my list", "none"),
        ),
    ),
    Rule(
        "tick X off",
        pattern(
            r"^(?:tick|check|cross|strike|knock)\s+(?P<t>.+?)\s+off"
            r"(?:\s+(?:my|the)\s+(?:todo\s+|to-do\s+)?list)?$"
        ),
        _complete_target,
        (
            ("cross the milk off my list", "complete words=milk"),
            ("tick that off", "complete ref=it"),
        ),
    ),
    Rule(
        "mark X off",
        pattern(r"^mark\s+(?:off\s+(?P<t>.+?)|(?P<t2>.+?)\s+off)$"),
        _complete_target,
        (("mark the milk off", "complete words=milk"),),
    ),
    Rule(
        "I finished X",
        pattern(
            r"^(?:i\s+|we\s+)?(?:(?:'ve|have|'m|am|just|already|finally|now|also|totally|all|"
            r"got)\s+)*(?:finished|completed|done|did|accomplished|ticked off|checked off|"
            r"crossed off|taken care of|dealt with|sorted|handled|wrapped up|knocked out|"
            r"through)\s+(?:with\s+|doing\s+)?(?P<t>.+)$"
        ),
        _i_did,
        (("I finished buying milk", "complete words=buying milk"),),
    ),
    Rule(
        "X is done",
        pattern(
            _SUBJECT_IS + r"(?P<all>all\s+)?(?:(?:now|all|finally|already|totally|completely|"
            r"officially|been)\s+)*(?P<s>"
            + DONE_WORDS
            + r"|not done|not finished|not complete|not completed|"
            r"not done yet|still open|still pending|still to do|" + "|".join(_GONE_WORDS) + r")"
            r"(?:\s+(?:now|already|too|as well|anymore|any more|yet|today))?$"
        ),
        _is_done,
        (
            ("task 2 is done", "complete ids=2"),
            ("the laundry is done", "complete words=laundry"),
            ("the party is cancelled", "delete words=party"),
            ("they're all done", "complete ref=them(all)"),
        ),
    ),
)
RULES = (
    *STRICT_RULES,
    Rule(
        "X is paid (a participle)",
        pattern(
            _SUBJECT_IS + r"(?:(?:now|all|finally|already|been)\s+)*(?P<p>[a-z]+)"
            r"(?:\s+(?:now|already|too|as well|today|finally|at last))?$"
        ),
        _is_past_participle,
        (
            ("rent's paid", "complete words=pay rent"),
            ("the tickets are booked", "complete words=booked tickets"),
            ("task 2 is paid", "complete ids=2"),
            ("the milk is spoiled", "none"),
            ("the car is red", "none"),
        ),
    ),
    Rule(
        "X done",
        pattern(r"^(?P<t>.+?)\s+(?:done|completed|finished|complete|checked off|ticked off)$"),
        _loose,
        (("milk done", "complete words=milk"),),
    ),
    Rule(
        "I did X (past tense)",
        pattern(
            r"^(?:(?:i|we)\s+)?(?:(?:just|already|finally|also|have|'ve|totally)\s+)*"
            r"(?P<v>[a-z]{2,})\s+(?P<rest>.+)$"
        ),
        _past_tense,
        (
            ("I called the dentist already", "complete words=called the dentist"),
            ("went to the post office this morning", "complete words=go to the post office"),
            ("bought the milk", "complete words=buy the milk"),
            ("I decided to go", "none"),
            ("spoke to the landlord this afternoon", "complete words=speak to the landlord"),
        ),
    ),
)
