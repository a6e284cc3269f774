"""Deleting: "delete task 2", "get rid of the gym one", "I don't need the milk anymore".

What deletes in bulk is explicit: "clear my list" and "delete everything" mean every task,
"clear the done ones" and "tidy up my list" the completed ones (docs/offline-model.md).
"""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import Intent, IntentKind, Target
from backend.chat.offline.intents.rules import Clause, Rule, pattern
from backend.chat.offline.intents.targets import STATUS_DONE, has_marker, parse_target

# Longest first, so "clear out" wins over "clear" and "get rid of" over "get rid".
_VERBS = sorted(
    """delete|remove|erase|scrap|scratch|trash|bin|discard|ditch|nuke|drop|cancel|kill|
    get rid of|throw away|throw out|toss|strike|cross out|forget about|forget|take|clear|
    clear out|clean out|wipe|wipe out|purge|eliminate|axe|dump|junk|lose|skip|abandon|
    never mind|nevermind|nvm|scratch that|rm|del|empty|clean up|tidy up|dismiss|
    get rid""".replace("\n", "")
    .replace("    ", "")
    .split("|"),
    key=len,
    reverse=True,
)
_SUFFIX = re.compile(
    r"\s+(?:from|off|out of|outta|in|on)\s+(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?"
    r"(?:list|tasks|todos|to-dos)$",
    re.IGNORECASE,
)
# Verbs that mean other things too ("drop the kids at school", "take the bins out"): they
# delete only a task named by id, reference or bulk, with a task word, or "from my list".
_WEAK = frozenset(
    "drop cancel kill forget take toss strike lose skip abandon dump junk axe bin "
    "never mind nevermind nvm dismiss clear clean up tidy up skip empty".split(" ")
)
# Weak verbs that, with a remark after them, can only mean letting a task go ("skip the gym,
# I'm tired" or "drop the kids, ..." may be about the day, not the list).
_LETTING_GO = frozenset(
    "forget|forget about|never mind|nevermind|nvm|dismiss|abandon|toss|junk|dump|axe|kill".split(
        "|"
    )
)
_STRONG = frozenset(
    "delete remove erase scrap trash discard ditch nuke get rid of rm del".split(" ")
)


def _clear_all(match: re.Match[str], clause: Clause) -> Intent | None:
    return Intent(IntentKind.DELETE, text=clause.text, target=Target(every="all"))


def _clear_done(match: re.Match[str], clause: Clause) -> Intent | None:
    return Intent(IntentKind.DELETE, text=clause.text, target=Target(every="completed"))


def _delete_verb(match: re.Match[str], clause: Clause) -> Intent | None:
    verb = match["v"].lower()
    raw = match["t"]
    had_suffix = bool(_SUFFIX.search(raw))
    raw = _SUFFIX.sub("", raw)
    if verb == "take" and not had_suffix:
        return None  # "take the bins out"
    if verb in {"clear", "clear out", "clean up", "tidy up", "empty"} and re.fullmatch(
        r"(?:out\s+)?(?:the\s+|my\s+|all\s+)?(?:" + STATUS_DONE + r")"
        r"(?:\s+(?:ones|tasks|items|todos))?",
        raw,
        re.IGNORECASE,
    ):
        return _clear_done(match, clause)
    # "never mind about the table": "about" makes the rest a task named by the person
    about = verb in {"never mind", "nevermind", "nvm", "forget"} and raw.lower().startswith(
        "about "
    )
    target = parse_target(raw)
    if target is None:
        return None
    named = target.explicit or had_suffix or has_marker(raw) or about
    if verb == "cancel" and not named and not clause.strict and target.name:
        # "cancel the dentist": the dentist task if there is one; if there is none it may be
        # a new task ("cancel the gym membership"), so nothing is deleted and the reply says
        # how to add it (finding.py).
        return Intent(
            IntentKind.DELETE, text=clause.text, target=target, extra={"if_listed": "cancel"}
        )
    if clause.remarked and verb in _LETTING_GO:
        named = True  # "never mind the milk, I don't need it"
    if verb in _WEAK and not named:
        return None
    if clause.strict and not named and verb not in _STRONG:
        return None
    return Intent(IntentKind.DELETE, text=clause.text, target=target)


def _named_delete(raw: str, clause: Clause) -> Intent | None:
    target = parse_target(raw)
    return Intent(IntentKind.DELETE, text=clause.text, target=target) if target else None


def _no_longer(match: re.Match[str], clause: Clause) -> Intent | None:
    # "I don't need to buy milk" says the task is unneeded by itself; "I don't want the milk"
    # needs "anymore" to be about the list.
    no_obligation = bool(match["to"]) and match["w"].lower() in {"need", "have"}
    if no_obligation and re.match(
        r"(?:forget|remember|worry|be\b|do anything|do nothing|anything)", match["t"], re.I
    ):
        return None  # "I don't need to be reminded", "don't have to worry about it"
    if not no_obligation and not re.search(
        r"\bany\s?more\b|\bno longer\b|\bafter all\b", clause.text, re.I
    ):
        return None
    target = parse_target(match["t"])
    return Intent(IntentKind.DELETE, text=clause.text, target=target) if target else None


RULES = (
    Rule(
        "no need to X anymore",
        pattern(
            r"^(?:there's\s+|there\s+is\s+)?no\s+(?:more\s+)?need\s+(?:to|for)\s+(?P<t>.+?)"
            r"(?:\s+any\s?more|\s+after all)?$"
        ),
        lambda match, clause: _named_delete(match["t"], clause),
        (("no need to call the plumber anymore", "delete words=call the plumber"),),
    ),
    Rule(
        "X isn't needed anymore",
        pattern(
            r"^(?P<t>.+?)\s+(?:isn't|is not|aren't|are not|won't be|will not be)\s+"
            r"(?:needed|necessary|required|happening|going ahead|relevant)"
            r"(?:\s+any\s?more|\s+after all)?$"
        ),
        lambda match, clause: _named_delete(match["t"], clause),
        (("the new mouse isn't needed anymore", "delete words=new mouse"),),
    ),
    Rule(
        "X can go",
        pattern(
            r"^(?P<t>.+?)\s+(?:can|could|may|should|has to|needs to|must)\s+(?:go|be\s+(?:deleted|"
            r"removed|dropped|binned|scrapped|taken off(?:\s+(?:my|the)\s+list)?))"
            r"(?:\s+now|\s+too)?$"
        ),
        lambda match, clause: _named_delete(match["t"], clause),
        (
            ("#2 can go", "delete ids=2"),
            ("the third one can go", "delete ref=position:3"),
            ("the gym task can be deleted", "delete words=gym"),
        ),
    ),
    Rule(
        "clear my list",
        pattern(
            r"^(?:clear|empty|wipe|reset|clean out|clear out|delete|remove|erase)"
            r"\s+(?:(?:out\s+)?(?:my|the|all|everything|all of my|all my)\s*)?"
            r"(?:whole\s+|entire\s+)?(?:todo\s+|to-do\s+|task\s+)?"
            r"(?:list|tasks|todos|to-dos|everything)?$"
        ),
        _clear_all,
        (("clear my list", "delete every=all"), ("wipe my whole list", "delete every=all")),
    ),
    Rule(
        "tidy up my list",
        pattern(
            r"^(?:clean up|tidy up|tidy|clean|clear out|clear)\s+(?:my\s+|the\s+)?"
            r"(?:todo\s+|to-do\s+|task\s+)?(?:list|tasks|todos)$"
        ),
        _clear_done,
        (("tidy up my list", "delete every=completed"),),
    ),
    Rule(
        "delete X",
        pattern(r"^(?P<v>" + "|".join(_VERBS) + r")\s+(?P<t>.+?)$"),
        _delete_verb,
        (
            ("delete task 2", "delete ids=2"),
            ("get rid of the passport task", "delete words=passport"),
            ("clear out the completed ones", "delete every=completed"),
            ("delete every task on my list", "delete every=all"),
            ("nvm about the gift for Tom", "delete words=the gift for Tom"),
            ("take the bins out", "none"),
            ("cancel the dentist", "delete words=dentist"),
        ),
    ),
    Rule(
        "I don't need X anymore",
        pattern(
            r"^(?:i\s+|we\s+)?(?:don't|do not|dont|no longer|won't|will not|wont)\s+"
            r"(?P<w>need|have|want|plan|going)\s+(?P<to>to\s+)?(?P<t>.+?)"
            r"(?:\s+any\s?more|\s+after all)?$"
        ),
        _no_longer,
        (
            ("I don't need the milk anymore", "delete words=milk"),
            ("I don't need to buy milk", "delete words=buy milk"),
            ("we don't have to book the hotel", "delete words=book the hotel"),
            ("I don't want the milk", "none"),
            ("I don't need to be reminded", "none"),
        ),
    ),
)
