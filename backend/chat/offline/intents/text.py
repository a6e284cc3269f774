"""Cleaning a clause before the rules see it: fillers, request words, quotes, numbers."""

from __future__ import annotations

import re

I = re.IGNORECASE  # noqa: E741  (the one flag every pattern here uses)

NUMBERS = {
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
ORDINALS = {
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
    r"^(?:(?:would|do)\s+(?:you|u)\s+mind\s+|"
    r"(?:can|could|would|will|won't)\s+(?:you|u|ya)\s+(?:please\s+|pls\s+|kindly\s+|just\s+)?|"
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


# After "would you mind": the gerund back to the command ("adding" -> "add").
_GERUND_COMMANDS = frozenset(
    "add put mark delete remove complete rename change create clear make".split()
)


def _command_of_gerund(text: str) -> str:
    first, _, rest = text.partition(" ")
    if not first.lower().endswith("ing"):
        return text
    base = first[:-3]
    for candidate in (base, base + "e", base[:-1]):  # adding, making, putting
        if candidate.lower() in _GERUND_COMMANDS:
            return f"{candidate} {rest}".strip()
    return text


def clean(clause: str) -> str:
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
        if (request := _REQUEST.match(text)) is not None:
            text = text[request.end() :]
            if "mind" in request.group(0).lower():
                text = _command_of_gerund(text)
        text = _END_PUNCTUATION.sub("", _TRAILING_FILLER.sub("", text))
        if text == before:
            break
    return text.strip()


def capitalize(title: str) -> str:
    title = title.strip()
    if title[:1].islower() and not title[1:2].isupper():
        return title[0].upper() + title[1:]
    return title


def strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].strip()
    return text
