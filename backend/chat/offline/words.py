"""Word-level tools: normalising text, stems, edit distance and the fixing of typos in commands."""

from __future__ import annotations

import re
import unicodedata

from backend.chat.offline.lemmas import irregular_lemma

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "`": "'", "´": "'"})
_DASHES = str.maketrans({"–": "-", "—": "-", "‒": "-", "−": "-"})


def normalize(text: str) -> str:
    """Typographic quotes and dashes to ASCII, whitespace collapsed; case and words kept."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES).translate(_DASHES)
    return re.sub(r"\s+", " ", text).strip()


def distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count once), cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1]


def is_swap(a: str, b: str) -> bool:
    """True when `a` is `b` with two neighbouring letters swapped (the commonest typo)."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and (a[diff[1]] == b[diff[0]])
    )


def close_enough(typed: str, known: str) -> bool:
    """Whether `typed` is a plausible typo of `known`: stricter for short words."""
    if typed == known:
        return True
    if len(known) <= 3:
        return False
    if len(known) == 4:
        # a swap ("rnet") or one inner letter left out ("rnt"), never the first
        dropped = len(typed) == 3 and typed[0] == known[0] and distance(typed, known, 1) == 1
        return is_swap(typed, known) or dropped
    return distance(typed, known, 2) <= (2 if len(known) >= 8 else 1)


# --- stems -------------------------------------------------------------------------------

# Irregular forms that are not past tenses (those come from lemmas.IRREGULAR_PAST).
_IRREGULAR = {
    "going": "go",
    "doing": "do",
    "used": "use",
    "dying": "die",
    "lying": "lie",
    "children": "child",
    "mice": "mouse",
    "men": "man",
    "women": "woman",
    "people": "person",
}
_VOWEL = re.compile(r"[aeiouy]")


def stem(word: str) -> str:
    """A light stemmer: enough for "buying" / "bought" / "buys" to meet "buy"."""
    word = word.lower().strip("'\"")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if (lemma := irregular_lemma(word)) is not None:
        return lemma
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and _VOWEL.search(word[:-3]) and len(word) - 3 >= 3:
        word = _undouble(word[:-3])
    elif (
        word.endswith("ed")
        and not word.endswith("eed")
        and len(word) >= 5
        and _VOWEL.search(word[:-2])
    ):
        word = _undouble(word[:-2])
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "aeioulsz":
        return word[:-1]
    return word


WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


def words(text: str) -> list[str]:
    return [match.group(0).lower() for match in WORD.finditer(text)]


# --- typos in command words ----------------------------------------------------------------

# The words that steer a command. A typo is only fixed in the places where these words go (the
# start of a clause, "task" before a number, the status at the end), never inside a title:
# "add lift weights" must not become "add list weights".
COMMAND_WORDS = (
    "add",
    "create",
    "delete",
    "remove",
    "complete",
    "completed",
    "finish",
    "finished",
    "mark",
    "show",
    "list",
    "display",
    "rename",
    "update",
    "change",
    "edit",
    "remind",
    "clear",
    "erase",
    "check",
    "cancel",
    "scrap",
    "tick",
    "cross",
    "what's",
    "what",
    "which",
    "done",
    "todo",
    "todos",
    "tasks",
    "task",
    "everything",
    "pending",
    "remember",
    "please",
    "insert",
)
# Verbs that start a task title ("call mom", "buy eggs"). They tell a list of things to do from
# one task with "and" inside ("buy eggs and bread"), and they are never "fixed" into commands.
TODO_VERBS = frozenset(
    """
    ask bake bathe book brush buy call cancel change charge check clean clear collect cook
    drop email feed file fill find fix get give go grab hang have hire install iron learn look
    mail make meet mop mow order organize organise pack paint pay pick plan plant post practice
    prepare print read register renew rent repair replace reply reschedule research return review
    schedule see sell send sign sort start study submit take talk text tidy try update vacuum
    visit wash watch water work write wrap walk prep bring fetch shop shave shower sweep dust
    polish fold hoover phone ring message invite thank confirm arrange backup back upload download
    load unload empty refill restock top pickup drive run jog swim exercise stretch meditate
    practise memorize memorise finish complete submit apply
    """.split()
)
# Real words one typo away from a command word, which must stay as typed.
_SAFE_WORDS = TODO_VERBS | frozenset(
    """
    as at is it its to do me my on in of so the this that then than a an and or if i
    lift mask masks taste tusks desk disk cheek chuck cress gross strap scrape scram rewind
    clean cleaner chance charge sheet shoe shown snow slow glow flow stow mart park dark bark
    lark mask tack tick task tuck diet edits exit done dome dove
    """.split()
)


def fix_word(word: str, vocabulary: tuple[str, ...] = COMMAND_WORDS) -> str:
    """The vocabulary word `word` is a typo of, or `word` itself. Keeps the original casing rule
    simple: returns lowercase when it changed something."""
    lowered = word.lower()
    if lowered in vocabulary or lowered in _SAFE_WORDS or not lowered.isalpha():
        return word
    candidates = [known for known in vocabulary if close_enough(lowered, known)]
    if not candidates:
        # Doubled or dropped letters: "addd", "delette".
        squeezed = re.sub(r"(.)\1+", r"\1", lowered)
        candidates = [k for k in vocabulary if re.sub(r"(.)\1+", r"\1", k) == squeezed]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        return min(
            candidates, key=lambda known: (distance(lowered, known, 3), len(known) != len(lowered))
        )
    return word
