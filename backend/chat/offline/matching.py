"""Finding the task a person means by a few words of its title.

Words are compared by stem ("buying" meets "Buy"), with small typos forgiven ("dentsit") and
abbreviations taken as prefixes ("groc"). A task matches when every meaningful word of the query
is in its title, or every word of its title is in the query ("I finished buying the milk at
the shop" still means "Buy milk"). Several equally good matches are reported, never picked.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.chat.offline.results import TaskInfo
from backend.chat.offline.words import close_enough, stem, words

_NOISE = frozenset(
    "the a an my our your his her their this that these those to for of on in at with and "
    "task tasks todo todos item items one ones thing things about called named titled "
    "list please".split()
)


# Verbs that say the same thing was done: "got the milk" and "picked up the milk" are "Buy
# milk", "rang mum" is "Call mum". Compared only as the first word of both the query and the
# title (the verb of a task), so a word inside a title never turns into another.
_SAME_ACTION = (
    "buy get pick grab purchase collect fetch",
    "call phone ring",
    "pay settle",
    "clean tidy hoover vacuum",
    "fix repair mend",
    "post mail send",
    "book reserve",
    "see visit",
)
_ACTION_OF = {stem(verb): index for index, line in enumerate(_SAME_ACTION) for verb in line.split()}
# After a task's verb: "pick up the milk", "drop off the parcel" are "pick", "drop" the thing.
_PARTICLES = frozenset("up off out back down over".split())


def _key_words(text: str) -> list[str]:
    raw = words(text)
    keys = [stem(word) for word in raw if word not in _NOISE]
    if len(keys) > 2 and keys[1] in _PARTICLES and raw[:1] and stem(raw[0]) == keys[0]:
        del keys[1]
    return keys or [stem(word) for word in raw]


def _same_action(query: list[str], title: list[str]) -> bool:
    action = _ACTION_OF.get(query[0])
    return action is not None and action == _ACTION_OF.get(title[0])


def _word_matches(query_word: str, title_word: str) -> bool:
    if query_word == title_word:
        return True
    if len(query_word) >= 4 and title_word.startswith(query_word):
        return True
    return close_enough(query_word, title_word)


@dataclass(frozen=True)
class Match:
    found: tuple[TaskInfo, ...]  # the best matches: exactly one means a confident answer

    @property
    def unique(self) -> TaskInfo | None:
        return self.found[0] if len(self.found) == 1 else None


def _score(query: list[str], title: list[str]) -> tuple[int, int] | None:
    """(exact, words in common) when the task matches the query at all, else None."""
    if not query or not title:
        return None
    if len(query) > 1 and len(title) > 1 and _same_action(query, title):
        # "get the milk" for "Buy milk": the verbs count as one word, the rest must match
        query, title = ["="] + query[1:], ["="] + title[1:]
    query_hits = sum(any(_word_matches(q, t) for t in title) for q in query)
    title_hits = sum(any(_word_matches(q, t) for q in query) for t in title)
    if query_hits < len(query) and title_hits < len(title):
        return None
    exact = int(query_hits == len(query) and title_hits == len(title))
    return exact, max(query_hits, title_hits)


def match_tasks(query: str, tasks: tuple[TaskInfo, ...] | list[TaskInfo]) -> Match:
    wanted = _key_words(query)
    normalized_query = " ".join(words(query))
    scored: list[tuple[tuple[int, int, int], TaskInfo]] = []
    for task in tasks:
        score = _score(wanted, _key_words(task.title))
        if score is None:
            continue
        verbatim = int(" ".join(words(task.title)) == normalized_query)
        scored.append(((verbatim, *score), task))
    if not scored:
        return Match(found=())
    best = max(score for score, _ in scored)
    return Match(found=tuple(task for score, task in scored if score == best))
