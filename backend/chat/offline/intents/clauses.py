"""A message cut into clauses, each read by the rules of each intent in a fixed order.

"delete the gym task and add yoga class instead" is two clauses; "add eggs and bread" one (an
add of two). A misspelt command word ("delte", "compelte") is fixed only where a command word
stands. "It" in a later clause means what an earlier clause of the message named.
Everything here is a pure function of the text.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from backend.chat.offline.intents import add, complete, delete, listing, update
from backend.chat.offline.intents.chat import parse_chat
from backend.chat.offline.intents.kinds import (
    ACTIONS,
    CHAT,
    Intent,
    IntentKind,
    NewTask,
    Ref,
    RefKind,
    Target,
)
from backend.chat.offline.intents.labels import parse_labelled_add
from backend.chat.offline.intents.remarks import split_remark
from backend.chat.offline.intents.rules import Clause, first_match
from backend.chat.offline.intents.targets import parse_target
from backend.chat.offline.intents.text import capitalize, clean
from backend.chat.offline.intents.typos import fix_typos
from backend.chat.offline.words import normalize, words

I = re.IGNORECASE  # noqa: E741


def _parse_clause(
    raw: str, *, strict: bool = False, allow_add: bool = True, remarked: bool = False
) -> Intent | None:
    if intent := parse_chat(raw):  # before cleaning: "thanks a lot" is all filler
        return intent
    text = clean(raw)
    if not text:
        return None
    if intent := parse_chat(text):
        return intent
    if not strict and (aside := _without_remark(text)) is not None:
        return aside
    clause = Clause(text, strict=strict, remarked=remarked)
    for rules, which in (
        (listing.STATUS_RULES, clause),
        (update.RULES, clause),
        (complete.STRICT_RULES, Clause(text, strict=True)),
    ):
        if intent := first_match(rules, which):
            return intent
    if intent := listing.parse_list(clause):
        return intent
    for later in (delete.RULES, complete.RULES):
        if intent := first_match(later, clause):
            return intent
    if not allow_add:
        return None
    # "I want to delete task 3" is a delete, not a task called "Delete task 3".
    if wish := add.WISH.match(text):
        # "I want to add a task to clean the oven": the add it asks for
        asks_to_add = bool(
            re.match(r"^(?:add|create|put|insert|make a (?:task|todo))\b", wish["body"], I)
        )
        inner = _parse_clause(wish["body"], allow_add=asks_to_add)
        if inner is not None and inner.kind in ACTIONS:
            return inner
    return add.parse_add(clause)


# What a remark's action may be and still only explain the one before it ("remove the milk,
# I bought it already"): nothing, or the same task again ("it", "them").
_REMARKED = frozenset({IntentKind.COMPLETE, IntentKind.DELETE, IntentKind.REOPEN})
_PRONOUNS = frozenset("it them that this those these one".split())


def _without_remark(text: str) -> Intent | None:
    """ "remove the dentist, i already went": the action before the comma, when what follows
    it only explains (remarks.py)."""
    if (parts := split_remark(text)) is None:
        return None
    head, remark = parts
    intent = _parse_clause(head, allow_add=False, remarked=True)
    if intent is None or intent.kind not in _REMARKED:
        return None
    said = _parse_clause(remark, allow_add=False)
    if said is not None and said.kind in ACTIONS and not _refers_back(said.target):
        return None  # "delete the milk, I finished the report": two things, not a remark
    return replace(intent, text=text)


def _refers_back(target: Target | None) -> bool:
    """Whether a remark's target is the task already named: "it", "them", "bought it"."""
    if target is None:
        return False
    if target.ref is not None:
        return target.ref.kind in (RefKind.IT, RefKind.THEM)
    said = words(target.name)
    return len(said) > 1 and set(said[1:]) <= _PRONOUNS


def _vaguer(original: Intent | None, repaired: Intent) -> bool:
    """Whether the reading with fixed typos is better than the reading as typed."""
    if original is None:
        return True
    if original.kind in (IntentKind.ADD, IntentKind.UNKNOWN):
        return repaired.kind in ACTIONS
    if original.target is not None and not original.target.explicit:
        # "complete taks 2" read as a task named "taks 2" vs task 2.
        return repaired.target is not None and repaired.target.explicit
    return False


_TYPO_PRONE = frozenset({IntentKind.ADD, IntentKind.COMPLETE, IntentKind.DELETE, IntentKind.UPDATE})


def parse_clause(raw: str, *, strict: bool = False) -> Intent | None:
    intent = _parse_clause(raw, strict=strict)
    if intent is not None and intent.kind not in _TYPO_PRONE:
        return intent
    fixed = fix_typos(raw)
    if fixed != clean(raw):
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
    intent = parse_clause(_next_segment(rest), strict=True)
    if intent is None:
        return False
    if intent.kind in CHAT:
        return after_punctuation
    if intent.kind == IntentKind.ADD:
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


_I_DID = re.compile(r"^\W*(?:i|we)\b", I)
_NEXT_VERB = re.compile(
    r"^\W*(?:(?:just|also|then|already|finally)\s+)*(?P<verb>[a-z]+)\s+(?P<next>[a-z']+)", I
)


def _same_subject(before: str, rest: str) -> str | None:
    """ "I've paid the rent and called the dentist": the second verb's subject is the first's.
    When `rest` goes on with another past tense of a task, that subject ("I", or "" when none
    was said: "paid the rent and called the dentist"); else None (no new clause)."""
    said = _I_DID.match(before)
    verb = _NEXT_VERB.match(rest)
    if verb is None or not complete.is_a_completion(verb["verb"]):
        return None
    if verb["next"].lower() in _PRONOUNS:
        return None  # "I finished the report and sent it to Bob": one task, said twice
    first = re.match(r"\W*([a-z]+)", before, I)
    if said is None and not (first and complete.is_a_completion(first.group(1))):
        return None
    intent = parse_clause(before)
    if intent is None or intent.kind != IntentKind.COMPLETE:
        return None
    return said.group(0).strip(" \t,") if said else ""


def split_clauses(text: str) -> list[str]:
    clauses: list[str] = []
    start = 0
    subject = ""  # "I" given to a clause that shares the one before's ("... and called X")
    for match in _SEPARATOR.finditer(text):
        if match.start() < start:
            continue
        rest = text[match.end() :]
        if not rest.strip():
            continue
        if re.search(r"\d\s*$", text[: match.start()]) and re.match(r"#?\d", rest):
            continue  # "tasks 1 and 3 are done": one list of ids
        before = f"{subject} {text[start : match.start()]}".strip()
        shared = None if match.group("punct") else _same_subject(before, rest)
        if shared is not None or _starts_a_clause(
            rest, after_punctuation=bool(match.group("punct"))
        ):
            clauses.append(before)
            start = match.end()
            subject = shared or ""
    clauses.append(f"{subject} {text[start:]}")
    return [clause for clause in (c.strip() for c in clauses) if clause.strip(" .!?,;")]


_PRONOUN_TITLE = re.compile(r"^(?:it|that|this|that one|this one|those|these)$", I)
_SELF_TALK = re.compile(
    r"^(?:i\s+(?:am|will|would|should|must|need to|have to|want to|plan to|might|may)\s+"
    r"(?:be\s+)?|we\s+(?:are|will|should|must|need to|have to)\s+)",
    I,
)
_SAID_THEN_ASK = re.compile(
    r"^(?P<said>.+?)\s*[,;.!-]+\s*(?:so\s+|please\s+|pls\s+|can you\s+)?"
    r"(?P<ask>(?:put|add|write|jot|note|save)\s+(?:it|that|this)\b.*)$",
    I,
)


def _said_as_task(clause: str) -> str:
    """What the person said they will do, as a title: "I'm going to the gym later" ->
    "Going to the gym later"."""
    return capitalize(_SELF_TALK.sub("", clean(clause)))


def parse_message(message: str) -> list[Intent]:
    return list(_parse_message(message))


# The model reads every earlier message of the conversation again on each call; a message's
# intents depend on its text alone (intents are frozen), so each text is parsed once per process.
@lru_cache(maxsize=2048)
def _parse_message(message: str) -> tuple[Intent, ...]:
    # A line break (with any bullet: "-", "*", "1.") ends a clause or an item, like a semicolon.
    text = normalize(re.sub(r"\s*\n\s*(?:[-*•]|\d+[.)])?\s*", " ; ", message.strip()))
    if not text:
        return (Intent(IntentKind.UNKNOWN, text=""),)
    if labelled := parse_labelled_add(text):
        return (labelled,)
    intents: list[Intent] = []
    clauses = split_clauses(text)
    if len(clauses) == 1 and (said := _SAID_THEN_ASK.match(text)):
        # "I'm going to the gym later, put it on my list": the "it" is the sentence before.
        clauses = [said["said"], said["ask"]]
    for index, clause in enumerate(clauses):
        intent = parse_clause(clause)
        if (
            intent is not None
            and intent.kind == IntentKind.ADD
            and len(intent.tasks) == 1
            and _PRONOUN_TITLE.match(intent.tasks[0].title)
            and index > 0
        ):
            said_task = _said_as_task(clauses[index - 1])
            if intents and intents[-1].text in (clauses[index - 1], clean(clauses[index - 1])):
                intents.pop()
            if said_task:
                intent = Intent(IntentKind.ADD, text=clause, tasks=(NewTask(title=said_task),))
        intents.append(intent or Intent(IntentKind.UNKNOWN, text=clean(clause) or clause))
    return tuple(bind_references(intents))


_NAMING_KINDS = frozenset(
    {
        IntentKind.COMPLETE,
        IntentKind.DELETE,
        IntentKind.UPDATE,
        IntentKind.REOPEN,
        IntentKind.STATUS,
    }
)


_MENTION = re.compile(
    r"^(?:(?:oh|so|ok|okay|and|also)\s+)*(?:forget|never\s?mind|nvm|scratch|about|regarding|re|"
    r"as for|the thing about|what about)(?:\s+about)?\s+(?P<words>.+)$",
    I,
)


def _mentioned(earlier: list[Intent]) -> str:
    """The words of a task the clause just before named without asking anything of it
    ("forget the tent", "about the dentist"), or ""."""
    if not earlier or earlier[-1].kind != IntentKind.UNKNOWN:
        return ""
    match = _MENTION.match(earlier[-1].text)
    if match is None or not 1 <= len(match["words"].split()) <= 6:
        return ""
    target = parse_target(match["words"])
    return target.name if target is not None else ""


def bind_references(intents: list[Intent]) -> list[Intent]:
    """Bind "it"/"them" to what an earlier clause of the same message named.

    "I don't need the gym anymore, you can get rid of it": the "it" is the gym task, whatever
    the gym clause found (or did not find), and never the task an older listing left over. A
    clause that only repeats the action of its antecedent ("get rid of it" after the gym clause
    already deletes it) says the same thing twice and is dropped; "fix the typo in X, it should
    be 'Y'" is one rename, its parts joined.
    """
    bound: list[Intent] = []
    for intent in intents:
        target = intent.target
        pronoun = target is not None and target.ref is not None and target.antecedent is None
        if not pronoun or target is None or target.ref is None:
            bound.append(intent)
            continue
        if target.ref.kind not in (RefKind.IT, RefKind.THEM):
            bound.append(intent)
            continue
        # The nearest earlier clause that is about tasks; an add's tasks are found by memory
        # (their ids come from the add's result), so "add milk and mark it done" stays as is.
        antecedent = next(
            (
                index
                for index in range(len(bound) - 1, -1, -1)
                if bound[index].kind in _NAMING_KINDS or bound[index].kind == IntentKind.ADD
            ),
            None,
        )
        if antecedent is None and (named := _mentioned(bound)):
            # "forget the tent, delete that one": the clause before only named a task
            bound.append(replace(intent, target=Target(name=named)))
        elif antecedent is None or bound[antecedent].kind == IntentKind.ADD:
            bound.append(intent)
        elif bound[antecedent].kind != intent.kind:
            bound.append(
                replace(intent, target=Target(ref=Ref(target.ref.kind), antecedent=antecedent))
            )
        elif intent.kind == IntentKind.UPDATE:
            bound[antecedent] = replace(intent, target=bound[antecedent].target)
    return bound


def asks_for_a_list(message: str) -> bool:
    """Whether the message asks to see tasks: its listings are answers, not lookups."""
    return any(intent.kind == IntentKind.LIST for intent in parse_message(message))
