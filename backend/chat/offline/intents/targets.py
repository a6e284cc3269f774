"""Targets: how a clause names the task(s) it is about.

By id ("task 3", "#2 and #5"), in bulk ("all completed tasks", "everything on my list"), by a
reference to what the conversation showed ("it", "them", "the second one", "the first one I
added"), or by some words of a title ("the milk one", "buying milk").
"""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import Ref, RefKind, Target
from backend.chat.offline.intents.text import NUMBERS, ORDINALS, strip_quotes
from backend.chat.offline.words import words

I = re.IGNORECASE  # noqa: E741

_ID_LIST = re.compile(
    r"^(?:(?:the\s+)?(?:tasks?|items?|todos?|to-dos?|numbers?|nos?\.?|ids?|entry|entries)"
    r"\s*(?:number|no\.?|#)?\s*)?#?(?P<first>\d+)(?P<more>(?:\s*(?:,|and|&|\+|or)\s*"
    r"(?:(?:tasks?|items?|numbers?)\s*)?#?\d+)*)(?:\s+(?:too|as well|one|task|item))?$",
    I,
)
STATUS_DONE = r"(?:completed|complete|finished|done|checked(?: off)?|ticked(?: off)?|crossed off)"
STATUS_OPEN = r"(?:pending|open|remaining|unfinished|incomplete|outstanding|not done|undone|active)"
_BULK = re.compile(
    r"^(?:(?:all|every|each)(?:\s+(?:of\s+)?(?:the|my))?\s+|the\s+|my\s+|any\s+)?"
    r"(?:(?P<done>" + STATUS_DONE + r")|(?P<open>" + STATUS_OPEN + r"))\s+"
    r"(?:tasks|ones|items|todos|to-dos|things|stuff)$|"
    r"^(?:all|every(?:thing|\s+task|\s+single\s+task|\s+item|\s+todo)?|everything)"
    r"(?:\s+(?:(?:that|which)\s+(?:is|are|'s)\s+|(?:i've|i have)\s+)?"
    r"(?:(?P<done2>" + STATUS_DONE + r")|(?P<open2>" + STATUS_OPEN + r")))?$|"
    r"^(?:all|every(?:thing)?)\s+(?:(?:of\s+)?(?:the|my)\s+)?(?:tasks|todos|to-dos|items|things)"
    r"(?:\s+(?:that\s+are\s+|which\s+are\s+|i've\s+|i\s+have\s+)?"
    r"(?:(?P<done3>" + STATUS_DONE + r")|(?P<open3>" + STATUS_OPEN + r")))?$|"
    r"^(?:everything|all)\s+(?:(?:on|in)\s+)?(?:my|the)\s+(?:todo\s+|to-do\s+)?list$|"
    r"^(?:my|the)\s+(?:whole|entire|full)\s+(?:todo\s+|to-do\s+)?list$|"
    r"^(?:my|the)\s+(?:todo\s+|to-do\s+)?list$",
    I,
)
# "all the stuff I have already done", "everything that's finished"
_BULK_DONE_CLAUSE = re.compile(
    r"^(?:all|every(?:thing)?)\s*(?:(?:of\s+)?(?:the|my)\s+)?(?:tasks?|todos?|items?|things?|"
    r"stuff|ones?)?\s*(?:that's|which's|that|which)?\s*(?:i\s+have|we\s+have|i|we|is|are|"
    r"was|were|has been|have been)?\s*(?:already\s+|now\s+)?(?P<done>" + STATUS_DONE + r")"
    r"(?:\s+already)?$",
    I,
)
# "the ones I have finished", "those that are done"
_DONE_ONES = re.compile(
    r"^(?:the|those|any)\s+(?:ones|tasks|items|things|todos)\s+(?:that\s+|which\s+)?"
    r"(?:i\s+have|we\s+have|i|we|are|were|have been|i've|we've)\s+(?:already\s+)?"
    r"(?P<done>" + STATUS_DONE + r")(?:\s+already)?$",
    I,
)
_REF_IT = re.compile(
    r"^(?:it|that|this|that one|this one|that task|this task|the task|that item|that todo|"
    r"the one|the same one|same one|the same task|that last one|him|her)$",
    I,
)
_REF_THEM = re.compile(
    r"^(?:them|they|those|these|both|all of them|they all|both of them|them all|them both|"
    r"all three|all (?:three|four|five) of them|those tasks|these tasks|those ones|these ones|"
    r"those two|these two|those three|these three|the ones i (?:just )?added|"
    r"(?:all )?the tasks i (?:just )?added|all those|all these|all of those|all of these)$",
    I,
)
_REF_ADDED = re.compile(
    r"^(?:the\s+)?(?:(?P<which>first|1st|last|latest|most recent|previous|newest|"
    r"second|third|new)\s+)?(?:one|task|item|todo|thing)?\s*(?:i|we)\s+(?:just\s+|last\s+)?"
    r"(?:added|created|put in|made|asked you to add)(?:\s+(?P<which2>first|last|just now|"
    r"earlier|before|today))?$|"
    r"^(?:what|whatever)\s+i\s+just\s+added$|^(?:the\s+)?(?:new|newest|latest)\s+(?:one|task)$",
    I,
)
_REF_ORDINAL = re.compile(
    r"^(?:the\s+|my\s+)?(?P<ord>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|"
    r"seventh|7th|eighth|8th|ninth|9th|tenth|10th|last|final|second last|second to last|"
    r"penultimate)(?:\s+(?:one|task|item|todo|thing|on the list|in the list|one on the list))?$",
    I,
)
_NAME_PREFIX = re.compile(
    r"^(?:(?:the|my|a|an|that|this|our)\s+)?(?:(?:task|todo|to-do|item|one|reminder|entry|thing)"
    r"\s+)?(?:(?:called|named|titled|about|that says|saying|that reads|with the title|"
    r"with|for|to)\s+)?",
    I,
)
NAME_SUFFIX = re.compile(
    r"(?:\s+(?:task|tasks|one|ones|item|items|todo|thing|reminder|entry|thingy|bit|stuff))?"
    r"(?:\s+(?:from|off|on|in|out of|outta)\s+(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?"
    r"(?:list|tasks|todos|to-dos))?$",
    I,
)
_MARKER = re.compile(
    r"\b(?:task|tasks|one|ones|item|items|todo|todos|reminder|entry|it|that|this|them|those)\b"
    r"|#\d|\d|\"|'",
    I,
)


_EXCEPT = re.compile(
    r"^(?P<bulk>.+?)\s+(?:except(?:\s+for)?|apart from|other than|besides|save for|"
    r"but(?:\s+not)?)\s+(?P<keep>.+)$",
    I,
)
_RANGE = re.compile(
    r"^(?:the\s+|my\s+)?(?P<end>first|last|top)\s+(?P<n>two|three|four|five|\d+)"
    r"(?:\s+(?:tasks|ones|items|todos|things|on the list|on my list))?$",
    I,
)


# How each kind of target reads (run as tests, with describe() of a complete intent).
EXAMPLES = (
    ("task 3", "ids=3"),
    ("#2 and #5", "ids=2,5"),
    ("all completed tasks", "every=completed"),
    ("everything except the milk", "every=all keep=milk"),
    ("all the stuff I have already done", "every=completed"),
    ("everything that's done", "every=completed"),
    ("the ones I have finished", "every=completed"),
    ("it", "ref=it"),
    ("both of them", "ref=them"),
    ("all of them", "ref=them(all)"),
    ("the second one", "ref=position:2"),
    ("my first task", "ref=position:1"),
    ("the first two tasks", "ref=position:1x2"),
    ("the last two", "ref=position:-2x2"),
    ("the first one I added", "ref=added:1"),
    ("the one I just added", "ref=added:-1"),
    ("the second one I added", "ref=added:2"),
    ("the milk one", "words=milk"),
)


def _with_exception(text: str) -> Target | None:
    """ "everything except the milk": a bulk target that leaves some words' tasks out."""
    if (exception := _EXCEPT.match(text)) and (bulk := parse_target(exception["bulk"])):
        keep = parse_target(exception["keep"])
        if bulk.every and keep is not None and keep.name:
            return Target(every=bulk.every, keep=keep.name)
    return None


def _range(text: str) -> Target | None:
    if match := _RANGE.match(text):
        count = int(match["n"]) if match["n"].isdigit() else NUMBERS[match["n"].lower()]
        start = -count if match["end"].lower() == "last" else 1
        return Target(ref=Ref(RefKind.POSITION, start, count=count))
    return None


def _ids(text: str) -> Target | None:
    if match := _ID_LIST.match(text):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(0))]
        return Target(ids=tuple(dict.fromkeys(numbers)))
    return None


def _bulk(text: str) -> Target | None:
    if match := _BULK.match(text):
        groups = match.groupdict()
        if groups.get("done") or groups.get("done2") or groups.get("done3"):
            return Target(every="completed")
        if groups.get("open") or groups.get("open2") or groups.get("open3"):
            return Target(every="pending")
        return Target(every="all")
    done = _BULK_DONE_CLAUSE.match(text) or _DONE_ONES.match(text)
    return Target(every="completed") if done else None


_ALL_OF_THEM = re.compile(
    r"^(?:all of them|them all|they all|all of those|all those|all of these|all these)$", I
)


def _pronoun(text: str) -> Target | None:
    if _REF_IT.match(text):
        return Target(ref=Ref(RefKind.IT))
    if _REF_THEM.match(text):
        return Target(ref=Ref(RefKind.THEM, all=bool(_ALL_OF_THEM.match(text))))
    return None


def _added(text: str) -> Target | None:
    if match := _REF_ADDED.match(text.lower()):
        which = f"{match.group('which') or ''} {match.group('which2') or ''}".split()
        first = any(word in ("first", "1st", "earlier", "before") for word in which)
        ordinal = next((ORDINALS[word] for word in which if word in ORDINALS), None)
        position = ordinal if ordinal is not None and ordinal > 1 else (1 if first else -1)
        return Target(ref=Ref(RefKind.ADDED, position))
    return None


def _position(text: str) -> Target | None:
    if match := _REF_ORDINAL.match(text.lower()):
        return Target(ref=Ref(RefKind.POSITION, ORDINALS[match.group("ord")]))
    return None


def _words(text: str) -> Target | None:
    quoted = re.fullmatch(
        r"(?:the\s+)?(?:task\s+)?[\"']([^\"']+)[\"'](?:\s+(?:task|one))?", text, I
    )
    if quoted:
        return Target(name=quoted.group(1).strip())
    name = strip_quotes(_NAME_PREFIX.sub("", NAME_SUFFIX.sub("", text).strip()).strip())
    return Target(name=name) if name and words(name) else None


# Tried in order: the first kind of target that reads the text wins.
_READERS = (_with_exception, _range, _ids, _bulk, _pronoun, _added, _position, _words)


def parse_target(text: str) -> Target | None:
    text = strip_quotes(text.strip(" ,.!?:;"))
    if not text:
        return None
    for read in _READERS:
        if (target := read(text)) is not None:
            return target
    return None


def has_marker(text: str) -> bool:
    return bool(_MARKER.search(text))
