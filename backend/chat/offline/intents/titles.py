"""Task titles out of an add's body: "eggs, milk and bread" is three tasks, "buy eggs and bread"
one, "call mom - about Sunday" a title with a description.

How "and" is read (the rule, also in the docs): commas and "and" separate tasks ("add eggs and
bread" adds two), except inside quotes, after a task that starts with a verb when what follows
does not ("buy eggs and bread", "call mom and dad" stay one task), and in a few fixed pairs
("salt and pepper", "mac and cheese").
"""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import NewTask
from backend.chat.offline.intents.text import capitalize, strip_quotes
from backend.chat.offline.words import TODO_VERBS, words

I = re.IGNORECASE  # noqa: E741

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
    r"\s*[,;]\s*(?:and\s+|&\s+|plus\s+)?(?:also\s+|then\s+)?|"
    r"\s+(?:and(?:\s+also|\s+then)?|adn|&|plus|as well as)\s+",
    I,
)


def starts_with_verb(text: str) -> bool:
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
        if starts_with_verb(items[-1]) and not starts_with_verb(piece):
            items[-1] = joined
        else:
            items.append(piece)
    return [item for item in items if item.strip()]


def _clean_title(text: str) -> str:
    text = strip_quotes(text.strip(" ,.;:!?"))
    for _ in range(2):
        text = _ADD_SUFFIX.sub("", text).strip(" ,.;:!?")
        text = _ADD_PREFIX.sub("", text).strip(" ,.;:!?")
    text = re.sub(r"^(?:to|that i (?:need|have|must|should) to|that i)\s+", "", text, flags=I)
    return capitalize(strip_quotes(text))


def parse_add_body(body: str, *, count: int | None = None) -> tuple[NewTask, ...]:
    body = body.strip()
    quoted = re.findall(r"\"([^\"]+)\"|(?<![A-Za-z])'([^']+)'(?![A-Za-z])", body)
    description = ""
    if quoted:
        titles = [capitalize(a or b) for a, b in quoted]
        rest = re.sub(r"\"[^\"]+\"|(?<![A-Za-z])'[^']+'(?![A-Za-z])", " ", body)
        for marker in _DESCRIPTION_MARKERS:
            if match := marker.search(rest):
                description = strip_quotes(match.group("d").strip())
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
                description = strip_quotes(match.group("d").strip(" .")).strip()
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
