"""What a message asks for: everyday todo language turned into a list of intents.

A message is cut into clauses ("delete the gym task and add yoga class instead" is two), each
clause is matched against the phrasings of each intent in a fixed order, and a misspelt command
word ("delte", "compelte") is fixed only where a command word stands. Everything here is a pure
function of the text.

How "and" is read inside an add (the rule, also in the README): commas and "and" separate tasks
("add eggs and bread" adds two), except inside quotes, after a task that starts with a verb when
what follows does not ("buy eggs and bread", "call mom and dad" stay one task), and in a few
fixed pairs ("salt and pepper", "mac and cheese").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from backend.chat.offline.words import TODO_VERBS, fix_word, normalize, stem, words

# --- the intents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTask:
    title: str
    description: str = ""


@dataclass(frozen=True)
class Target:
    """Which task(s) an action is about: exactly one of the fields is set."""

    ids: tuple[int, ...] = ()
    name: str = ""  # words of a title, matched against the list
    ref: str = ""  # "it", "them", "first_added", "last_added", "ordinal:<n>" (-1 is the last)
    every: str = ""  # bulk: "all", "pending" or "completed"
    # For "it"/"them" bound to an earlier clause of the same message: that clause's index in the
    # message's intents. The reference means what that clause named, never anything else.
    antecedent: int | None = None

    @property
    def explicit(self) -> bool:
        """Whether it names a task by id, reference or bulk (not just some words of a title)."""
        return bool(self.ids or self.ref or self.every)


@dataclass(frozen=True)
class Intent:
    kind: str  # add list status complete delete update reopen greet thanks help bye cancel unknown
    text: str = ""  # the clause as written
    tasks: tuple[NewTask, ...] = ()  # add
    status: str = "all"  # list
    target: Target | None = None  # complete delete update reopen
    title: str | None = None  # update: the new title
    description: str | None = None  # update: the new description
    extra: dict[str, str] = field(default_factory=dict, compare=False)


ACTIONS = frozenset({"add", "list", "complete", "delete", "update", "reopen", "status"})
CHAT = frozenset({"greet", "thanks", "help", "bye", "cancel"})

I = re.IGNORECASE  # noqa: E741  (the one flag every pattern here uses)

# --- helpers ----------------------------------------------------------------------------------

_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "a few": 0,
    "some": 0,
    "several": 0,
}
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "seventh": 7,
    "7th": 7,
    "eighth": 8,
    "8th": 8,
    "ninth": 9,
    "9th": 9,
    "tenth": 10,
    "10th": 10,
    "last": -1,
    "final": -1,
    "second last": -2,
    "second to last": -2,
    "penultimate": -2,
}

_LEADING_FILLER = re.compile(
    r"^(?:(?:please|pls|plz|kindly|ok|okay|ok so|so|now|also|and|then|oh|um+|uh+|hm+|well|"
    r"right|alright|all right|actually|wait|sorry|oops|hey|hi|hello|yo|btw|by the way|"
    r"and then|and also|oh and|one more thing|one more|next|great|cool|perfect|thanks|"
    r"thank you|good|nice|ah|and now|lastly|finally|first|firstly|second|secondly|"
    r"after that|afterwards)[,!.:]*\s+)+",
    I,
)
_REQUEST = re.compile(
    r"^(?:(?:can|could|would|will|won't)\s+you\s+(?:please\s+|kindly\s+|just\s+)?|"
    r"(?:i(?:'d| would) like (?:you )?to|i want you to|i need you to|i'd love (?:you )?to|"
    r"help me|let's|lets|let us|go ahead and|just|quickly|you can|you could|you should|"
    r"please)\s+)",
    I,
)
_TRAILING_FILLER = re.compile(
    r"(?:[\s,]+(?:please|pls|plz|thanks|thank you|thx|instead|too|as well|for me|right now|"
    r"asap|ok|okay|again|now|then|if you can|if possible|thank you very much|thanks a lot|"
    r"cheers|if you don't mind))+$",
    I,
)
_END_PUNCTUATION = re.compile(r"[\s.!?…:;,]+$")


_CONTRACTIONS = {"ve": "have", "m": "am", "d": "would", "ll": "will", "re": "are"}


def _clean(clause: str) -> str:
    text = _END_PUNCTUATION.sub("", clause.strip())
    text = re.sub(
        r"\b(i|we|you|they)'(ve|m|d|ll|re)\b",
        lambda m: f"{m.group(1)} {_CONTRACTIONS[m.group(2).lower()]}",
        text,
        flags=I,
    )
    for _ in range(3):
        before = text
        text = _LEADING_FILLER.sub("", text)
        text = _REQUEST.sub("", text)
        text = _END_PUNCTUATION.sub("", _TRAILING_FILLER.sub("", text))
        if text == before:
            break
    return text.strip()


def _capitalize(title: str) -> str:
    title = title.strip()
    if title[:1].islower() and not title[1:2].isupper():
        return title[0].upper() + title[1:]
    return title


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].strip()
    return text


# --- targets ---------------------------------------------------------------------------------

_ID_LIST = re.compile(
    r"^(?:(?:the\s+)?(?:tasks?|items?|todos?|to-dos?|numbers?|nos?\.?|ids?|entry|entries)"
    r"\s*(?:number|no\.?|#)?\s*)?#?(?P<first>\d+)(?P<more>(?:\s*(?:,|and|&|\+|or)\s*"
    r"(?:(?:tasks?|items?|numbers?)\s*)?#?\d+)*)(?:\s+(?:too|as well|one|task|item))?$",
    I,
)
_STATUS_DONE = r"(?:completed|complete|finished|done|checked(?: off)?|ticked(?: off)?|crossed off)"
_STATUS_OPEN = (
    r"(?:pending|open|remaining|unfinished|incomplete|outstanding|not done|undone|active)"
)
_BULK = re.compile(
    r"^(?:(?:all|every|each)(?:\s+(?:of\s+)?(?:the|my))?\s+|the\s+|my\s+|any\s+)?"
    r"(?:(?P<done>" + _STATUS_DONE + r")|(?P<open>" + _STATUS_OPEN + r"))\s+"
    r"(?:tasks|ones|items|todos|to-dos|things|stuff)$|"
    r"^(?:all|every(?:thing|\s+task|\s+single\s+task|\s+item|\s+todo)?|everything)"
    r"(?:\s+(?:(?:that|which)\s+(?:is|are|'s)\s+|(?:i've|i have)\s+)?"
    r"(?:(?P<done2>" + _STATUS_DONE + r")|(?P<open2>" + _STATUS_OPEN + r")))?$|"
    r"^(?:all|every(?:thing)?)\s+(?:(?:of\s+)?(?:the|my)\s+)?(?:tasks|todos|to-dos|items|things)"
    r"(?:\s+(?:that\s+are\s+|which\s+are\s+|i've\s+|i\s+have\s+)?"
    r"(?:(?P<done3>" + _STATUS_DONE + r")|(?P<open3>" + _STATUS_OPEN + r")))?$|"
    r"^(?:everything|all)\s+(?:(?:on|in)\s+)?(?:my|the)\s+(?:todo\s+|to-do\s+)?list$|"
    r"^(?:my|the)\s+(?:whole|entire|full)\s+(?:todo\s+|to-do\s+)?list$|"
    r"^(?:my|the)\s+(?:todo\s+|to-do\s+)?list$",
    I,
)
_REF_IT = re.compile(
    r"^(?:it|that|this|that one|this one|that task|this task|the task|that item|that todo|"
    r"the one|the same one|same one|the same task|that last one|him|her)$",
    I,
)
_REF_THEM = re.compile(
    r"^(?:them|those|these|both|all of them|both of them|them all|them both|all three|"
    r"all (?:three|four|five) of them|those tasks|these tasks|those ones|these ones|"
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
    r"^(?:the\s+)?(?P<ord>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|"
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
_NAME_SUFFIX = re.compile(
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


def parse_target(text: str) -> Target | None:
    text = _strip_quotes(text.strip(" ,.!?:;"))
    if not text:
        return None
    lowered = text.lower()
    if match := _ID_LIST.match(text):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(0))]
        return Target(ids=tuple(dict.fromkeys(numbers)))
    if match := _BULK.match(text):
        groups = match.groupdict()
        if groups.get("done") or groups.get("done2") or groups.get("done3"):
            return Target(every="completed")
        if groups.get("open") or groups.get("open2") or groups.get("open3"):
            return Target(every="pending")
        return Target(every="all")
    if _REF_IT.match(lowered):
        return Target(ref="it")
    if _REF_THEM.match(lowered):
        return Target(ref="them")
    if match := _REF_ADDED.match(lowered):
        which = f"{match.group('which') or ''} {match.group('which2') or ''}"
        first = "first" in which or "1st" in which or "earlier" in which or "before" in which
        return Target(ref="first_added" if first else "last_added")
    if match := _REF_ORDINAL.match(lowered):
        return Target(ref=f"ordinal:{_ORDINALS[match.group('ord')]}")
    quoted = re.fullmatch(
        r"(?:the\s+)?(?:task\s+)?[\"']([^\"']+)[\"'](?:\s+(?:task|one))?", text, I
    )
    if quoted:
        return Target(name=quoted.group(1).strip())
    name = _NAME_SUFFIX.sub("", text).strip()
    name = _NAME_PREFIX.sub("", name).strip()
    name = _strip_quotes(name)
    if not name or not words(name):
        return None
    return Target(name=name)


def _has_marker(text: str) -> bool:
    return bool(_MARKER.search(text))


# --- add -------------------------------------------------------------------------------------

_BINOMIALS = frozenset(
    pair.strip()
    for pair in """
    salt and pepper|mac and cheese|macaroni and cheese|fish and chips|bread and butter|
    peanut butter and jelly|pb and j|rock and roll|black and white|pros and cons|
    bits and pieces|nuts and bolts|odds and ends|sweet and sour|cheese and crackers|
    milk and cookies|oil and vinegar|shampoo and conditioner|hide and seek|q and a|r and d|
    b and b|arts and crafts|pen and paper|trial and error|back and forth|up and running|
    chips and salsa|spaghetti and meatballs|ham and cheese|bacon and eggs|eggs and bacon|
    bed and breakfast|rise and shine|rest and relaxation|wear and tear|pots and pans|
    knives and forks|cups and saucers|stocks and shares|terms and conditions|fruit and veg|
    fruit and vegetables|soap and water|needle and thread|lock and key|hammer and nails|
    cream and sugar|gin and tonic|rum and coke|strawberries and cream|tea and biscuits|
    sugar and spice|dungeons and dragons|pride and prejudice|war and peace|
    crime and punishment|romeo and juliet|tom and jerry|bonnie and clyde|beauty and the beast
    """.split("|")
    if pair.strip()
)
_DESCRIPTION_MARKERS = (
    re.compile(
        r"[\s,;]*(?:\bwith\s+(?:the\s+|a\s+)?)?\b(?:description|details?|desc|notes?|info|"
        r"comment)\s*(?::|=|-|\bis\b|\bsaying\b|\bof\b)?\s*(?P<d>.+)$",
        I,
    ),
    re.compile(r"\s+(?:-|--|—)\s+(?P<d>.+)$", I),
    re.compile(r"\s*\((?P<d>[^()]+)\)$", I),
)
_ADD_PREFIX = re.compile(
    r"^(?:(?:a|an|the|one|another|new|some)\s+)*(?:(?:new|quick|small)\s+)?"
    r"(?:(?:task|todo|to-do|to do|item|reminder|note|entry|thing)s?\s*"
    r"(?:(?:to|called|named|titled|for|that says|saying|about|of|reading|:)\s+|:\s*)?)?",
    I,
)
_ADD_SUFFIX = re.compile(
    r"(?:\s+(?:to|on|in|onto|into)\s+(?:my|the|our)\s+(?:todo\s+|to-do\s+|to do\s+|task\s+|"
    r"shopping\s+|daily\s+)?(?:list|todos|to-dos|tasks|task list|agenda)(?:\s+please)?|"
    r"\s+as\s+(?:a\s+)?(?:new\s+)?(?:task|todo|to-do|reminder)|\s+for\s+me|"
    r"\s+(?:to|on)\s+(?:my|the)\s+(?:list|tasks))+$",
    I,
)
_ITEM_SEPARATOR = re.compile(
    r"\s*[,;]\s*(?:and\s+|&\s+|plus\s+)?|\s+(?:and|&|plus|as well as)\s+", I
)


def _starts_with_verb(text: str) -> bool:
    first = words(text)[:1]
    return bool(first) and first[0] in TODO_VERBS


def _split_items(body: str, *, strict: bool) -> list[str]:
    """Cut an add's body into task titles (see the module docstring for the rule)."""
    if not body:
        return []
    if body.lower() in _BINOMIALS:  # "salt and pepper" alone; in a longer list, items split
        return [body]
    pieces: list[str] = []
    separators: list[str] = []
    position = 0
    for match in _ITEM_SEPARATOR.finditer(body):
        pieces.append(body[position : match.start()])
        separators.append(match.group(0))
        position = match.end()
    pieces.append(body[position:])
    if strict:
        return [piece for piece in pieces if piece.strip()]
    items: list[str] = []
    for index, piece in enumerate(pieces):
        if not items:
            items.append(piece)
            continue
        joined = items[-1] + separators[index - 1] + piece
        if _starts_with_verb(items[-1]) and not _starts_with_verb(piece):
            items[-1] = joined
        else:
            items.append(piece)
    return [item for item in items if item.strip()]


def _clean_title(text: str) -> str:
    text = _strip_quotes(text.strip(" ,.;:!?"))
    for _ in range(2):
        text = _ADD_SUFFIX.sub("", text).strip(" ,.;:!?")
        text = _ADD_PREFIX.sub("", text).strip(" ,.;:!?")
    text = re.sub(r"^(?:to|that i (?:need|have|must|should) to|that i)\s+", "", text, flags=I)
    return _capitalize(_strip_quotes(text))


def parse_add_body(body: str, *, count: int | None = None) -> tuple[NewTask, ...]:
    body = body.strip()
    quoted = re.findall(r"\"([^\"]+)\"|(?<![A-Za-z])'([^']+)'(?![A-Za-z])", body)
    description = ""
    if quoted:
        titles = [_capitalize(a or b) for a, b in quoted]
        rest = re.sub(r"\"[^\"]+\"|(?<![A-Za-z])'[^']+'(?![A-Za-z])", " ", body)
        for marker in _DESCRIPTION_MARKERS:
            if match := marker.search(rest):
                description = _strip_quotes(match.group("d").strip())
                break
        if (
            not description
            and len(quoted) == 2
            and re.search(r"\b(?:description|details?|notes?|desc)\b", rest, I)
        ):
            titles, description = titles[:1], quoted[1][0] or quoted[1][1]
        return tuple(
            NewTask(title=t, description=description if i == len(titles) - 1 else "")
            for i, t in enumerate(titles)
            if t.strip()
        )
    for marker in _DESCRIPTION_MARKERS:
        if match := marker.search(body):
            candidate = body[: match.start()].strip()
            if candidate:
                description = _strip_quotes(match.group("d").strip(" .")).strip()
                body = candidate
                break
    body = _ADD_SUFFIX.sub("", body.strip(" ,.;:!?"))
    strict = count is not None
    items = _split_items(body, strict=strict)
    if count and len(items) != count:
        # "add two tasks: salt and pepper, bread" — the count settles the ambiguity.
        for other in (_split_items(body, strict=False), re.split(r"\s*[,;]\s*", body)):
            if len([item for item in other if item.strip()]) == count:
                items = [item for item in other if item.strip()]
                break
    titles = [title for title in (_clean_title(item) for item in items) if title]
    return tuple(
        NewTask(title=title, description=description if i == len(titles) - 1 else "")
        for i, title in enumerate(titles)
    )


_ADD_COUNTED = re.compile(
    r"^(?:add|create|make|put|insert|new|i have|i've got|here are)\s+"
    r"(?:(?:these|the following)(?:\s+(?:tasks|todos|to-dos|items|things|reminders))?|"
    r"(?P<n>\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a couple of|"
    r"a couple|couple of|a few|some|several|more|new|multiple)\s+(?:more\s+)?(?:new\s+)?"
    r"(?:tasks|todos|to-dos|items|things|reminders)|(?:tasks|todos|to-dos|items))"
    r"\s*(?:to (?:my |the )?list\s*)?(?:[:\-]|to add:?)?\s*(?P<body>\S.*)$",
    I,
)
_ADD_PATTERNS = (
    re.compile(
        r"^(?:add|create|insert|append|enter|include|adda|new\s+(?:task|todo|to-do|item|reminder)|"
        r"(?:make|set|set up|create)\s+(?:a\s+|an\s+)?(?:new\s+)?(?:task|todo|to-do|reminder|"
        r"note|item)(?:\s+(?:to|for|called|named|that says|saying|about))?|"
        r"(?:jot|note|write|put|take)\s+down|"
        r"(?:todo|to-do|to do|task|reminder|note to self|memo|new)\s*:)(?![a-z])\s*[:\-]?\s*"
        r"(?P<body>.+)$",
        I,
    ),
    re.compile(
        r"^(?:please\s+)?remind\s+me\s+(?:to|that i (?:need|have|must|should) to|that i|"
        r"about|of|i need to|i have to)\s+(?P<body>.+)$",
        I,
    ),
    re.compile(r"^remind\s+me\s+(?P<body>(?!what|which|how|of my|about my).+)$", I),
    re.compile(
        r"^(?:i\s+|we\s+)?(?:really\s+|still\s+|also\s+|definitely\s+|just\s+)?"
        r"(?:(?:need|have|want|got|am going|have got|'ve got|ought|will need|'ll need)\s+to|"
        r"must|should|gotta|gonna|have gotta|need)\s+"
        r"(?:remember\s+to\s+|not\s+forget\s+to\s+|make\s+sure\s+to\s+)?(?P<body>.+)$",
        I,
    ),
    re.compile(
        r"^(?:(?:please\s+)?(?:don't|do not|dont|never)\s+(?:let\s+me\s+)?forget\s+"
        r"(?:to\s+|about\s+)?|"
        r"remember\s+to\s+|i\s+(?:must|should|can't|cannot|mustn't)\s+(?:not\s+)?forget\s+"
        r"(?:to\s+|about\s+)?|make\s+sure\s+(?:i\s+|to\s+)|note\s+that\s+i\s+(?:need|have)\s+to\s+|"
        r"i\s+(?:need|have)\s+to\s+remember\s+to\s+)(?P<body>.+)$",
        I,
    ),
    re.compile(
        r"^(?:put|stick|throw|pop|place|add|write|get)\s+(?P<body>.+?)\s+(?:on|in|to|onto|into)\s+"
        r"(?:my|the|our)\s+(?:todo\s+|to-do\s+|to do\s+|task\s+|shopping\s+)?(?:list|todos|to-dos|"
        r"tasks|task list|agenda)$",
        I,
    ),
)


def _parse_add(text: str) -> Intent | None:
    if match := _ADD_COUNTED.match(text):
        raw = (match.groupdict().get("n") or "").lower()
        count = int(raw) if raw.isdigit() else _NUMBERS.get(raw) or None
        body = match.group("body")
        tasks = parse_add_body(body, count=count or 0)
        if tasks:
            return Intent("add", text=text, tasks=tasks)
    for pattern in _ADD_PATTERNS:
        if match := pattern.match(text):
            body = match.group("body").strip()
            # "I want to delete task 3" is a delete, not a task called "Delete task 3".
            if pattern is _ADD_PATTERNS[3] and (inner := _parse_clause(body, allow_add=False)):
                if inner.kind in ACTIONS:
                    return inner
            if pattern is _ADD_PATTERNS[3] and re.match(
                r"^(?:know|see|check|look|find out|view|hear|ask|say|talk|chat)\b", body, I
            ):
                return None
            tasks = parse_add_body(body)
            if tasks:
                return Intent("add", text=text, tasks=tasks)
    return None


# --- list ------------------------------------------------------------------------------------

_LIST_WORDS = (
    r"tasks?|todos?|to-dos?|to dos|list|items?|agenda|plate|left|pending|remaining|outstanding|"
    r"open|unfinished|incomplete|finished|completed|complete|done|everything|all|next|"
    r"need to do|have to do|got to do|to do|todo|still|remain|did i|have i|accomplished|"
    r"stuff|things|anything|reminders?|schedule|up next|checked off|ticked off|progress|status"
)
_LIST_PATTERNS = (
    re.compile(
        r"^(?:show|list|display|view|print|see|output|dump|fetch|recap|summarize|summarise|"
        r"read|review|give|get|pull up|bring up|open|load|refresh|check|tell|let me see|"
        r"lemme see|can i see|may i see|i want to see|i'd like to see|i wanna see)"
        r"(?:\s+(?:me|us|out))?(?:\s+(?:back|again|up))?"
        r"(?:\s+(?P<rest>.+))?$",
        I,
    ),
    re.compile(
        r"^(?:what|what's|whats|what is|what are|which|what else|what have|what did)\b.*$", I
    ),
    re.compile(
        r"^(?:do|have|did|is|are|any|anything|got|how many|how much|how's|how is|how am i)\b.*"
        r"\b(?:" + _LIST_WORDS + r")\b.*$",
        I,
    ),
    re.compile(
        r"^(?:(?:my|all|all my|all of my|the|current|today's|todays)\s+)*(?:(?:pending|completed|"
        r"done|finished|open|remaining|outstanding|current|unfinished|incomplete|active|"
        r"checked off)\s+)?(?:tasks|todos|to-dos|to dos|todo list|to-do list|task list|list|"
        r"items|stuff|agenda|ones|reminders)$|^(?:everything|all|pending|completed|done|"
        r"finished|remaining|outstanding|status|summary|overview|progress|list)$",
        I,
    ),
    re.compile(r"^where\s+(?:am\s+i|are\s+we|do\s+i\s+stand|things\s+stand)\b.*$", I),
    re.compile(
        r"^(?:did|have|had)\s+(?:i|we|you)\s+(?:already\s+|ever\s+|just\s+)?(?:add|added|"
        r"put|create|created|write|written|note|noted|save|saved|list|listed)\b.*$",
        I,
    ),
)
_LIST_NOT = re.compile(
    r"\b(?:not|n't|isn't|aren't|haven't|yet to|still to|remain|remaining|left|pending|open|"
    r"outstanding|unfinished|incomplete|undone|need to|have to|got to|next|to do|todo)\b",
    I,
)


def _list_status(text: str) -> str:
    lowered = text.lower()
    if re.search(r"\b(?:add|added|put|create|created|listed)\b", lowered):
        return "all"  # "did I already add milk?"
    lowered = re.sub(r"\b(?:todo|to-do|to do)\s+(?:list|items?|tasks?)\b", "list", lowered)
    lowered = re.sub(r"\bmy\s+(?:todos?|to-dos?)\b", "my tasks", lowered)
    done = re.search(
        r"\b(?:completed|complete|finished|done|accomplished|checked off|ticked off|crossed off|"
        r"did i|have i (?:done|finished|completed)|i(?:'ve| have)? (?:done|finished|completed)|"
        r"i did)\b",
        lowered,
    )
    not_done = re.search(
        r"\b(?:not|n't|yet to be|still to be)\s+(?:yet\s+)?(?:done|finished|completed|complete)\b"
        r"|\bundone\b|\bincomplete\b|\bunfinished\b",
        lowered,
    )
    pending = re.search(
        r"\b(?:pending|left|remaining|remain|open|outstanding|still|next|need to|have to|got to|"
        r"must|should|to do|todo|active|unfinished|incomplete|undone|yet)\b",
        lowered,
    )
    if not_done:
        return "pending"
    if done and not pending:
        return "completed"
    if pending and not done:
        return "pending"
    if done and pending:
        # "what's left that isn't done" vs "what have I done so far": the verb decides.
        return (
            "completed"
            if re.search(r"\b(?:did i|have i|i've|i have|i did)\b", lowered)
            else ("pending")
        )
    return "all"


_NOT_A_LIST = re.compile(
    r"^(?:what|what's|whats|which)\s+(?:can|could|do|should|would)\s+(?:you|i\s+(?:say|ask|type))"
    r"|^what\s+(?:are|is)\s+(?:you|this|that)\b|^what's\s+(?:this|that|up)\b"
    r"|^what\s+(?:model|version|time|day|date)\b|^what\s+about\b",
    I,
)


_STATUS_QUESTION = re.compile(
    r"^(?:is|are|was|were|has|have)\s+(?P<t>.+?)\s+(?:been\s+|already\s+|all\s+)*"
    r"(?:done|completed|complete|finished|checked off|ticked off)(?:\s+(?:yet|already))?$|"
    r"^(?:did|have|had)\s+(?:i|we)\s+(?:already\s+|ever\s+|actually\s+)?(?:(?:finish|finished|"
    r"complete|completed|do|done|tick off|ticked off|check off|checked off)\s+)?"
    r"(?!(?:add|added|put|create|created|write|written|list|listed|save|saved|note|noted)\b)"
    r"(?P<t2>.+?)(?:\s+(?:yet|already))?$",
    I,
)


def _parse_status_question(text: str) -> Intent | None:
    """ "is the milk done?", "did I finish the report?": a yes or no about one task."""
    match = _STATUS_QUESTION.match(text)
    if not match:
        return None
    target = parse_target(match.group("t") or match.group("t2"))
    if target is None or target.every:
        return None
    return Intent("status", text=text, target=target)


def _parse_list(text: str) -> Intent | None:
    if _NOT_A_LIST.match(text):
        return None
    for index, pattern in enumerate(_LIST_PATTERNS):
        match = pattern.match(text)
        if not match:
            continue
        if index == 0:
            rest = (match.group("rest") or "").strip()
            verb = text.split()[0].lower()
            if re.match(r"^get\s+rid\b", text, I):
                return None
            # "get milk", "check the oil", "open the window" are tasks, not list requests.
            if verb in {
                "get",
                "check",
                "open",
                "read",
                "review",
                "give",
                "tell",
                "load",
                "fetch",
                "refresh",
                "see",
                "print",
                "output",
                "dump",
                "recap",
            }:
                if not rest or not re.search(r"\b(?:" + _LIST_WORDS + r"|what|how)\b", rest, I):
                    return None
            if (
                verb in {"show", "list", "display", "view"}
                and rest
                and not re.search(r"\b(?:" + _LIST_WORDS + r"|what|how|my|me|the)\b", rest, I)
            ):
                return None
        if index == 1 and not re.search(
            r"\b(?:" + _LIST_WORDS + r"|i have|do i|have i)\b", text, I
        ):
            return None
        return Intent("list", text=text, status=_list_status(text))
    return None


# --- complete / reopen -------------------------------------------------------------------------

_DONE_WORDS = (
    r"done|complete|completed|finished|checked|checked off|ticked|ticked off|crossed off|"
    r"taken care of|sorted|sorted out|handled|dealt with|over|accomplished|achieved|ready|"
    r"out of the way|all set|finito|complete now"
)
_UNDONE_WORDS = (
    r"not done|undone|incomplete|pending|unfinished|not complete|not completed|not finished|"
    r"open|uncompleted|to do|todo|active|not done yet|outstanding"
)
_MARK = re.compile(
    r"^(?:mark|set|flag|put|make|move|tag|label|switch|change|update|turn)\s+(?P<t>.+?)\s+"
    r"(?:as\s+|to\s+|into\s+|back\s+to\s+|as\s+being\s+)?(?P<s>"
    + _UNDONE_WORDS
    + "|"
    + _DONE_WORDS
    + r")$",
    I,
)
_MARK_OFF = re.compile(r"^mark\s+(?:off\s+(?P<t>.+?)|(?P<t2>.+?)\s+off)$", I)
_DONE_COLON = re.compile(r"^(?:done|finished|completed|complete)\s*[:\-]\s*(?P<t>.+)$", I)
_COMPLETE_VERB = re.compile(
    r"^(?P<v>complete|finish|close|tick off|check off|cross off|strike off|tick|check|finalize|"
    r"finalise|resolve|wrap up|knock out|knock off|accomplish)\s+(?P<t>.+?)(?:\s+off)?$",
    I,
)
_I_DID = re.compile(
    r"^(?:i\s+|we\s+)?(?:(?:'ve|have|'m|am|just|already|finally|now|also|totally|all|got)\s+)*"
    r"(?:finished|completed|done|did|accomplished|ticked off|checked off|crossed off|"
    r"taken care of|dealt with|sorted|handled|wrapped up|knocked out|through)\s+"
    r"(?:with\s+|doing\s+)?(?P<t>.+)$",
    I,
)
_IS_DONE = re.compile(
    r"^(?P<t>.+?)\s*(?:\s(?:is|are|was|were|has been|have been|got|is now|are now|'s|'re)"
    r"|'s|'re)\s+"
    r"(?:(?:now|all|finally|already|totally|completely|officially|been)\s+)*"
    r"(?P<s>" + _DONE_WORDS + r"|not done|not finished|not complete|not completed|not done yet|"
    r"still open|still pending|still to do|cancelled|canceled|no longer needed|not needed|"
    r"not needed anymore|no longer relevant|irrelevant|obsolete|off)"
    r"(?:\s+(?:now|already|too|as well|anymore|any more|yet|today))?$",
    I,
)
_SUFFIX_DONE = re.compile(
    r"^(?P<t>.+?)\s+(?:done|completed|finished|complete|checked off|ticked off)$", I
)
_PAST_VERB = re.compile(
    r"^(?:(?:i|we)\s+)?(?:(?:just|already|finally|also|have|'ve|totally)\s+)*(?P<v>[a-z]{2,}ed|bought|paid|"
    r"sent|wrote|took|got|made|went|ran|fed|met|sold|gave|brought|found|built|drove|swam|ate|read|"
    r"did|spoke|rang|hung|won|froze|kept|left|lent|spent|taught|told|wore|sat)\s+(?P<rest>.+)$",
    I,
)
_NOT_COMPLETION_VERBS = frozenset(
    "needed wanted started tried decided planned hoped liked loved hated used forgot added created "
    "asked meant thought said told guessed wondered noticed realized realised expected deleted "
    "removed renamed updated mentioned learned heard saw changed moved called_it edited marked "
    "listed typed wrote_down missed skipped postponed delayed scheduled booked_for got_to "
    "left_out kept_forgetting put_off".split()
)
_REOPEN = re.compile(
    r"^(?:reopen|re-open|uncomplete|un-complete|unmark|un-mark|uncheck|un-check|untick|un-tick|"
    r"unfinish|undo|restore|revive|bring back|resurrect)\s+(?P<t>.+)$",
    I,
)


def _parse_complete(text: str, *, strict: bool) -> Intent | None:
    if match := _REOPEN.match(text):
        target = parse_target(match.group("t"))
        if target and (not strict or target.explicit or _has_marker(match.group("t"))):
            return Intent("reopen", text=text, target=target)
    if match := _MARK.match(text):
        target = parse_target(match.group("t"))
        if target:
            kind = "reopen" if re.fullmatch(_UNDONE_WORDS, match.group("s"), I) else "complete"
            return Intent(kind, text=text, target=target)
    if match := _DONE_COLON.match(text):
        target = parse_target(match.group("t"))
        if target:
            return Intent("complete", text=text, target=target)
    if match := _COMPLETE_VERB.match(text):
        weak = match.group("v").lower() in {
            "tick",
            "check",
            "close",
            "finish",
            "resolve",
            "finalize",
            "finalise",
            "wrap up",
            "knock out",
            "accomplish",
        }
        target = parse_target(match.group("t"))
        if target and target.every and weak and not re.search(r"\b(?:all|every)", text, I):
            target = None  # "check my list" asks to see it
        if target and (
            not weak
            or target.explicit
            or _has_marker(match.group("t"))
            or (not strict and match.group("v").lower() in {"finish", "tick"})
        ):
            return Intent("complete", text=text, target=target)
    if match := _MARK_OFF.match(text):
        target = parse_target(match.group("t") or match.group("t2"))
        if target:
            return Intent("complete", text=text, target=target)
    if match := _I_DID.match(text):
        target = parse_target(match.group("t"))
        if target and (not strict or target.explicit):
            return Intent("complete", text=text, target=target)
    if match := _IS_DONE.match(text):
        target = parse_target(match.group("t"))
        status = match.group("s").lower()
        if target and (not strict or target.explicit):
            if status.startswith(("not", "still")):
                return Intent("reopen", text=text, target=target)
            if status in {
                "cancelled",
                "canceled",
                "no longer needed",
                "not needed",
                "not needed anymore",
                "no longer relevant",
                "irrelevant",
                "obsolete",
                "off",
            }:
                return Intent("delete", text=text, target=target)
            return Intent("complete", text=text, target=target)
    if strict:
        return None
    if match := _SUFFIX_DONE.match(text):
        target = parse_target(match.group("t"))
        if target:
            return Intent("complete", text=text, target=target)
    if match := _PAST_VERB.match(text):
        verb = match.group("v").lower()
        if stem(verb) == verb:
            return None  # "need", "shed", "red": not past tenses of anything
        said_i = bool(re.match(r"^(?:i|we)\b", text, I))
        if not said_i and stem(verb) not in TODO_VERBS:
            return None  # "Got the milk" yes (get), "Shed cleaning" no
        if verb not in _NOT_COMPLETION_VERBS and not re.match(
            r"^(?:to|that|about|you|it was|on)\b", match.group("rest"), I
        ):
            name = _NAME_SUFFIX.sub("", f"{verb} {match.group('rest')}").strip()
            if words(name):
                return Intent("complete", text=text, target=Target(name=name))
    return None


# --- delete ----------------------------------------------------------------------------------

_DELETE_VERB = re.compile(
    r"^(?P<v>delete|remove|erase|scrap|scratch|trash|bin|discard|ditch|nuke|drop|cancel|kill|"
    r"get rid of|throw away|throw out|toss|strike|cross out|forget about|forget|take|clear|"
    r"clear out|clean out|wipe|wipe out|purge|eliminate|axe|dump|junk|lose|skip|abandon|"
    r"never mind|nevermind|nvm|scratch that|rm|del|empty|clean up|tidy up|dismiss|"
    r"get rid)\s+(?P<t>.+?)$",
    I,
)
_DELETE_SUFFIX = re.compile(
    r"\s+(?:from|off|out of|outta|in)\s+(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?"
    r"(?:list|tasks|todos|to-dos)$",
    I,
)
_WEAK_DELETE = frozenset(
    "drop cancel kill forget take toss strike lose skip abandon dump junk axe bin "
    "never mind nevermind nvm dismiss".split()
)
_NO_LONGER = re.compile(
    r"^(?:i\s+)?(?:don't|do not|dont|no longer|won't|will not|wont)\s+(?:need|have|want|plan|"
    r"going)\s+(?:to\s+)?(?P<t>.+?)(?:\s+any\s?more|\s+after all)?$",
    I,
)


def _parse_delete(text: str, *, strict: bool) -> Intent | None:
    if re.fullmatch(
        r"(?:clear|empty|wipe|reset|clean out|clear out|delete|remove|erase)"
        r"\s+(?:(?:out\s+)?(?:my|the|all|everything|all of my|all my)\s*)?"
        r"(?:whole\s+|entire\s+)?(?:todo\s+|to-do\s+|task\s+)?"
        r"(?:list|tasks|todos|to-dos|everything)?",
        text,
        I,
    ):
        return Intent("delete", text=text, target=Target(every="all"))
    if re.fullmatch(
        r"(?:clean up|tidy up|tidy|clean|clear out|clear)\s+(?:my\s+|the\s+)?"
        r"(?:todo\s+|to-do\s+|task\s+)?(?:list|tasks|todos)",
        text,
        I,
    ):
        return Intent("delete", text=text, target=Target(every="completed"))
    if match := _DELETE_VERB.match(text):
        verb = match.group("v").lower()
        raw = match.group("t")
        had_suffix = bool(_DELETE_SUFFIX.search(raw))
        raw = _DELETE_SUFFIX.sub("", raw)
        if verb == "take" and not had_suffix:
            return None
        if verb in {"clear", "clean up", "tidy up", "empty"} and re.fullmatch(
            r"(?:the\s+|my\s+|all\s+)?(?:" + _STATUS_DONE + r")(?:\s+(?:ones|tasks|items|todos))?",
            raw,
            I,
        ):
            return Intent("delete", text=text, target=Target(every="completed"))
        target = parse_target(raw)
        if target is None:
            return None
        weak = verb in _WEAK_DELETE or verb in {"clear", "clean up", "tidy up", "skip", "empty"}
        if weak and not (target.explicit or had_suffix or _has_marker(raw)):
            return None
        if (
            strict
            and not (target.explicit or _has_marker(raw) or had_suffix)
            and verb
            not in {
                "delete",
                "remove",
                "erase",
                "scrap",
                "trash",
                "discard",
                "ditch",
                "nuke",
                "get rid of",
                "rm",
                "del",
            }
        ):
            return None
        return Intent("delete", text=text, target=target)
    if match := _NO_LONGER.match(text):
        if re.search(r"\bany\s?more\b|\bno longer\b|\bafter all\b", text, I):
            target = parse_target(match.group("t"))
            if target:
                return Intent("delete", text=text, target=target)
    return None


# --- update ----------------------------------------------------------------------------------

_FIELD = r"(?P<field>title|name|description|details|detail|notes|note|text|desc|wording|label)"
_EDIT = r"(?:change|update|edit|modify|set|alter|correct|fix|amend|adjust|reword|rewrite)"
_UPDATE_PATTERNS = (
    re.compile(
        r"^(?:rename|retitle|relabel|re-name|re-title)\s+(?P<t>.+?)\s+(?:to|as|into|"
        r"->|=>)\s+(?P<new>.+)$",
        I,
    ),
    re.compile(
        r"^" + _EDIT + r"\s+(?:the\s+)?" + _FIELD + r"\s+(?:of|for|on|in)\s+(?P<t>.+?)"
        r"\s*(?:\s(?:to|into|as|->|=>|to say|to read)\s|:|=)\s*(?P<new>.+)$",
        I,
    ),
    re.compile(
        r"^"
        + _EDIT
        + r"\s+(?P<t>.+?)(?:'s|s')?\s+"
        + _FIELD
        + r"\s*(?:\s(?:to|into|as|->|=>|to say|to read)\s|:|=)\s*(?P<new>.+)$",
        I,
    ),
    re.compile(
        r"^(?:add|put|attach|set|write|give|include)\s+(?:a\s+|an\s+|the\s+|some\s+)?"
        r"(?:new\s+)?(?P<field>description|details|detail|note|notes|comment|desc)\s+"
        r"(?:to|on|for)\s+(?P<t>.+?)(?:\s*:\s*|\s+saying\s+|\s+that says\s+|\s+-\s+|"
        r"\s+reading\s+|\s+of\s+|\s+as\s+)(?P<new>.+)$",
        I,
    ),
    re.compile(
        r"^(?:give|add)\s+(?P<t>.+?)\s+(?:a|the)\s+(?P<field>description|note|details)"
        r"\s*(?::|saying|of|-)?\s*(?P<new>.+)$",
        I,
    ),
    re.compile(
        r"^" + _EDIT + r"\s+(?P<t>.+?)(?:\s+(?:to|into|->|=>|so (?:that )?it (?:says|reads)|"
        r"to say|to read)\s+|\s*:\s*)(?P<new>.+)$",
        I,
    ),
    re.compile(r"^(?:replace|swap|switch)\s+(?P<t>.+?)\s+(?:with|for|by)\s+(?P<new>.+)$", I),
    re.compile(
        r"^(?:call|name|title)\s+(?P<t>it|that|that one|this one|this|task\s*#?\d+|#\d+)"
        r"\s+(?P<new>.+)$",
        I,
    ),
    re.compile(
        r"^(?P<t>it|that|task\s*#?\d+|#\d+|the\s+.+?\s+(?:one|task))\s+should\s+"
        r"(?:be|say|read)\s+(?:called\s+|named\s+)?(?P<new>.+)$",
        I,
    ),
)


def _parse_update(text: str, *, strict: bool) -> Intent | None:
    for index, pattern in enumerate(_UPDATE_PATTERNS):
        match = pattern.match(text)
        if not match:
            continue
        raw_target = match.group("t")
        target = parse_target(raw_target)
        new = _strip_quotes(match.group("new").strip(" .!?"))
        new = re.sub(r"^(?:say|read|be|be called|be named)\s+", "", new, flags=I)
        new = _strip_quotes(new)
        if target is None or not new:
            continue
        if (
            index in (5, 6)
            and (strict or re.match(r"^(?:the\s+)?(?:my\s+)?oil\b", raw_target, I))
            and not (target.explicit or _has_marker(raw_target))
        ):
            continue
        if re.fullmatch(_DONE_WORDS + "|" + _UNDONE_WORDS, new, I):
            continue  # "change task 3 to done" is a completion, handled there
        fieldname = (match.groupdict().get("field") or "title").lower()
        if fieldname in {"description", "details", "detail", "notes", "note", "desc", "comment"}:
            if re.fullmatch(r"(?:nothing|empty|blank|none)", new, I):
                new = ""
            return Intent("update", text=text, target=target, description=new)
        return Intent("update", text=text, target=target, title=_capitalize(new))
    if match := re.match(
        r"^(?:remove|delete|clear|drop)\s+(?:the\s+)?(?:description|details|"
        r"notes?)\s+(?:of|from|on)\s+(?P<t>.+)$",
        text,
        I,
    ):
        target = parse_target(match.group("t"))
        if target:
            return Intent("update", text=text, target=target, description="")
    return None


# --- small talk ------------------------------------------------------------------------------

_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|heya|howdy|yo|hola|greetings|sup|what's up|whats up|"
    r"good (?:morning|afternoon|evening|day)|morning|evening|hey hey|hello hello|hi hi)"
    r"(?:\s+(?:there|again|bot|assistant|buddy|friend|you|all|everyone|mate))?"
    r"(?:[\s,]+(?:how are you|how's it going|how are things))?$|"
    r"^(?:how are you(?: doing)?|how's it going|how do you do|nice to meet you)$",
    I,
)
_THANKS = re.compile(
    r"^(?:(?:thanks|thank you|thank u|thx|ty|tysm|cheers|much appreciated|appreciate it|"
    r"many thanks|great|awesome|perfect|cool|nice|ok|okay|k|kk|got it|sounds good|"
    r"that's all|that is all|all good|good|excellent|brilliant|super|lovely|wonderful|fantastic|"
    r"all done|nothing|nothing else|nope|no|no thanks|no thank you|yes|yep|yeah|sure|fine|"
    r"great job|good job|well done|nice one|that's it|that is it|that's great|that's perfect|"
    r"alright|all right|right|understood|noted|amazing|sweet|neat|wow|done|ok cool|"
    r"that's everything|i'm good|im good|i'm done|im done|we're done)"
    r"(?:[\s,!.]+(?:a lot|so much|very much|a bunch|that's all|for now|for your help|"
    r"for the help|mate|buddy|again|thanks|thank you|bot))*)$",
    I,
)
_HELP = re.compile(
    r"^(?:help|help me|\?+|what can you do(?: for me)?|what can i do(?: here)?|what do you do|"
    r"what are you|who are you|what are you able to do|what else can you do|"
    r"how does (?:this|it) work|how do i use (?:this|you|it)|how do you work|what can i say|"
    r"what can i ask(?: you)?|what should i say|commands|options|menu|instructions|usage|"
    r"are you (?:an? )?(?:ai|bot|robot|human|real|llm|gpt|chatgpt|person|language model)|"
    r"what model (?:are you|is this)|which model (?:are you|is this)|what are your "
    r"(?:capabilities|features|commands|options)|how do i (?:add|delete|remove|complete|use|"
    r"rename|list|start|update|edit|change)\b.*|what is this|what's this|"
    r"(?:can|could) you help(?: me)?|i need help|show (?:me )?(?:the )?(?:commands|help|options)|"
    r"what are the commands|tell me (?:about yourself|what you can do)|"
    r"(?:are you|is this) (?:offline|online)|do you understand(?: me)?|"
    r"who (?:made|built|created|wrote|are) you|what(?:'s| is) your name|"
    r"what are you called|how smart are you|are you smart)$",
    I,
)
_BYE = re.compile(
    r"^(?:bye|goodbye|good bye|bye bye|good night|goodnight|see you|see ya|see you later|later|"
    r"cya|take care|ttyl|farewell)(?:[\s,!]+(?:now|then|for now|thanks|thank you))*$",
    I,
)


_CANCEL = re.compile(
    r"^(?:(?:no\s*,?\s*)?(?:don't|do not|dont|please don't|pls don't)\s+(?:add|delete|remove|"
    r"complete|mark|do|change|rename|update|touch|clear)\b.*|never ?mind|nvm|forget it|"
    r"cancel(?: that)?|stop|no,? (?:don't|do not|stop)|scratch that|ignore that)$",
    I,
)


def _parse_chat(text: str) -> Intent | None:
    bare = text.strip(" .!?,").lower()
    if _CANCEL.match(bare):
        return Intent("cancel", text=text)
    for kind, pattern in (
        ("help", _HELP),
        ("greet", _GREETING),
        ("thanks", _THANKS),
        ("bye", _BYE),
    ):
        if pattern.match(bare):
            return Intent(kind, text=text)
    return None


# --- clauses ---------------------------------------------------------------------------------


def _parse_clause(clause: str, *, strict: bool = False, allow_add: bool = True) -> Intent | None:
    if intent := _parse_chat(clause):  # before cleaning: "thanks a lot" is all filler
        return intent
    text = _clean(clause)
    if not text:
        return None
    if intent := _parse_chat(text):
        return intent
    for parse in (
        _parse_status_question,
        lambda t: _parse_update(t, strict=strict),
        lambda t: _parse_complete(t, strict=True),
        _parse_list,
        lambda t: _parse_delete(t, strict=strict),
        lambda t: _parse_complete(t, strict=strict),
    ):
        if intent := parse(text):
            return intent
    if allow_add:
        return _parse_add(text)
    return None


def _fix_typos(text: str) -> str:
    """Fix misspelt command words where they stand: the clause's first word (after "please" and
    the like), the word "task" before a number, and the status word at the end."""
    cleaned = _clean(text)
    lead = re.match(r"^([A-Za-z']+)(\s+(?:[A-Za-z']+))?", cleaned)
    if not lead:
        return cleaned
    first = lead.group(1)
    fixed_first = fix_word(first)
    result = fixed_first + cleaned[len(first) :] if fixed_first != first else cleaned
    # "mark X as dnoe", "show my taks", "delete taks 3", "check off ... tsk"
    result = re.sub(
        r"\b([A-Za-z]{3,})(?=\s*#?\d)",
        lambda m: fix_word(m.group(1), ("task", "tasks", "item", "number")),
        result,
    )
    result = re.sub(
        r"(\s)([A-Za-z]{4,})$",
        lambda m: (
            m.group(1)
            + fix_word(
                m.group(2),
                (
                    "done",
                    "completed",
                    "complete",
                    "finished",
                    "tasks",
                    "todos",
                    "pending",
                    "everything",
                    "list",
                ),
            )
        ),
        result,
    )
    if second := lead.group(2):
        word = second.strip()
        fixed = fix_word(word, ("off", "my", "all", "tasks", "task", "everything", "list", "me"))
        if fixed != word and len(word) >= 4:
            result = result.replace(word, fixed, 1)
    return result


def _vaguer(original: Intent | None, repaired: Intent) -> bool:
    """Whether the reading with fixed typos is better than the reading as typed."""
    if original is None:
        return True
    if original.kind in ("add", "unknown"):
        return repaired.kind in ACTIONS
    if original.target is not None and not original.target.explicit:
        # "complete taks 2" read as a task named "taks 2" vs task 2.
        return repaired.target is not None and repaired.target.explicit
    return False


def parse_clause(clause: str, *, strict: bool = False) -> Intent | None:
    intent = _parse_clause(clause, strict=strict)
    if intent is not None and intent.kind not in ("add", "complete", "delete", "update"):
        return intent
    fixed = _fix_typos(clause)
    if fixed != _clean(clause):
        repaired = _parse_clause(fixed, strict=strict)
        if repaired is not None and _vaguer(intent, repaired):
            return repaired
    return intent


_SEPARATOR = re.compile(
    r"(?P<punct>\s*[.;!?]+\s+|\s*\n+\s*)|"
    r"(?P<joint>\s*,\s*(?:and\s+then\s+|and\s+also\s+|and\s+|then\s+|also\s+|plus\s+)?|"
    r"\s+(?:and\s+then|and\s+also|and\s+now|and|then|also|plus|after that|afterwards|but)\s+)",
    I,
)


def _next_segment(text: str) -> str:
    match = _SEPARATOR.search(text)
    return text[: match.start()] if match else text


def _starts_a_clause(rest: str, *, after_punctuation: bool) -> bool:
    segment = _next_segment(rest)
    intent = parse_clause(segment, strict=True)
    if intent is None:
        return False
    if intent.kind in CHAT:
        return after_punctuation
    if intent.kind == "add":
        # Only an explicit add starts a new clause: "add milk and eggs" is one add of two.
        return bool(
            re.match(
                r"^\W*(?:also\s+|then\s+|please\s+|pls\s+)*(?:add|create|"
                r"remind me|put|new task|new todo|insert)\b",
                rest,
                I,
            )
        )
    return True


def split_clauses(text: str) -> list[str]:
    clauses: list[str] = []
    start = 0
    for match in _SEPARATOR.finditer(text):
        if match.start() < start:
            continue
        rest = text[match.end() :]
        if not rest.strip():
            continue
        if _starts_a_clause(rest, after_punctuation=bool(match.group("punct"))):
            clauses.append(text[start : match.start()])
            start = match.end()
    clauses.append(text[start:])
    return [clause for clause in (c.strip() for c in clauses) if clause.strip(" .!?,;")]


_PRONOUN_TITLE = re.compile(r"^(?:it|that|this|that one|this one|those|these)$", I)
_SELF_TALK = re.compile(
    r"^(?:i\s+(?:am|will|would|should|must|need to|have to|want to|plan to|might|may)\s+"
    r"(?:be\s+)?|we\s+(?:are|will|should|must|need to|have to)\s+)",
    I,
)


def _said_as_task(clause: str) -> str:
    """What the person said they will do, as a title: "I'm going to the gym later" ->
    "Going to the gym later"."""
    text = _SELF_TALK.sub("", _clean(clause))
    return _capitalize(text)


def parse_message(message: str) -> list[Intent]:
    text = normalize(message)
    if not text:
        return [Intent("unknown", text="")]
    intents: list[Intent] = []
    clauses = split_clauses(text)
    if len(clauses) == 1:
        # "I'm going to the gym later, put it on my list": the "it" is the sentence before.
        match = re.match(
            r"^(?P<said>.+?)\s*[,;.!-]+\s*(?:so\s+|please\s+|pls\s+|can you\s+)?"
            r"(?P<ask>(?:put|add|write|jot|note|save)\s+(?:it|that|this)\b.*)$",
            text,
            I,
        )
        if match:
            clauses = [match.group("said"), match.group("ask")]
    for index, clause in enumerate(clauses):
        intent = parse_clause(clause)
        if (
            intent is not None
            and intent.kind == "add"
            and len(intent.tasks) == 1
            and _PRONOUN_TITLE.match(intent.tasks[0].title)
            and index > 0
        ):
            said = _said_as_task(clauses[index - 1])
            if intents and intents[-1].text in (clauses[index - 1], _clean(clauses[index - 1])):
                intents.pop()
            intent = Intent("add", text=clause, tasks=(NewTask(title=said),)) if said else intent
        intents.append(intent or Intent("unknown", text=_clean(clause) or clause))
    return bind_references(intents)


_NAMING_KINDS = frozenset({"complete", "delete", "update", "reopen", "status"})


def bind_references(intents: list[Intent]) -> list[Intent]:
    """Bind "it"/"them" to what an earlier clause of the same message named.

    "I don't need the gym anymore, you can get rid of it": the "it" is the gym task, whatever
    the gym clause found (or did not find), and never the task an older listing left over. A
    clause that only repeats the action of its antecedent ("get rid of it" after the gym clause
    already deletes it) says the same thing twice and is dropped.
    """
    bound: list[Intent] = []
    for intent in intents:
        target = intent.target
        if target is None or target.ref not in ("it", "them") or target.antecedent is not None:
            bound.append(intent)
            continue
        # The nearest earlier clause that is about tasks; an add's tasks are found by memory
        # (their ids come from the add's result), so "add milk and mark it done" stays as is.
        antecedent = next(
            (
                index
                for index in range(len(bound) - 1, -1, -1)
                if bound[index].kind in _NAMING_KINDS or bound[index].kind == "add"
            ),
            None,
        )
        if antecedent is None or bound[antecedent].kind == "add":
            bound.append(intent)
        elif bound[antecedent].kind != intent.kind:
            bound_target = Target(ref=target.ref, antecedent=antecedent)
            bound.append(replace(intent, target=bound_target))
    return bound


def asks_for_a_list(message: str) -> bool:
    """Whether the message asks to see tasks: its listings are answers, not lookups."""
    return any(intent.kind == "list" for intent in parse_message(message))
