"""Seeing the list: "what's left?", "show my completed tasks", "is the milk done?"."""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import Intent, IntentKind, StatusFilter
from backend.chat.offline.intents.rules import Clause, Rule
from backend.chat.offline.intents.targets import parse_target

I = re.IGNORECASE  # noqa: E741

_LIST_WORDS = (
    r"tasks?|todos?|to-dos?|to dos|list|items?|agenda|plate|left|pending|remaining|outstanding|"
    r"open|unfinished|incomplete|finished|completed|complete|done|everything|all|next|"
    r"need to do|have to do|got to do|to do|todo|still|remain|did i|have i|accomplished|"
    r"stuff|things|anything|reminders?|schedule|up next|checked off|ticked off|progress|status"
)


def list_status(text: str) -> StatusFilter:
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


def _status(match: re.Match[str], clause: Clause) -> Intent | None:
    target = parse_target(match["t"] or match["t2"])
    if target is None or target.every:
        return None
    return Intent(IntentKind.STATUS, text=clause.text, target=target)


def _on_list_any(match: re.Match[str], clause: Clause) -> Intent | None:
    words_of_task = match["t"] or match["t2"] or match["t3"] or match["t4"]
    target = parse_target(words_of_task)
    if target is None or not target.name:
        return None
    return Intent(IntentKind.STATUS, text=clause.text, target=target, extra={"asks": "on_list"})


_LIST_NOUN = r"(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?(?:list|tasks|todos)"
STATUS_RULES = (
    Rule(
        "is X on my list",
        re.compile(
            r"^(?:is|are)\s+(?P<t>.+?)\s+(?:still\s+)?(?:on|in)\s+"
            + _LIST_NOUN
            + r"(?:\s+still)?$|"
            r"^(?:do|did)\s+i\s+(?:still\s+|already\s+)?have\s+(?:anything|something|a task|"
            r"any tasks?|a todo|anything left)\s+(?:about|for|on|with|regarding|to do with|"
            r"called|named)\s+(?P<t2>.+?)(?:\s+(?:on|in)\s+" + _LIST_NOUN + r")?$|"
            r"^(?:do|did)\s+i\s+(?:still\s+|already\s+)?have\s+(?P<t3>.+?)\s+(?:on|in)\s+"
            + _LIST_NOUN
            + r"$|"
            r"^(?:is|are)\s+there\s+(?:anything|a task|any tasks?|something)\s+(?:about|for|with|"
            r"called|named)\s+(?P<t4>.+?)(?:\s+(?:on|in)\s+" + _LIST_NOUN + r")?$",
            I,
        ),
        _on_list_any,
        (
            ("is call the insurance still on my list", "status words=call the insurance"),
            ("do I have anything about Ana", "status words=Ana"),
            ("do I still have milk on my list", "status words=milk"),
        ),
    ),
    Rule(
        "is X done",
        _STATUS_QUESTION,
        _status,
        (
            ("is the milk done", "status words=milk"),
            ("did I finish the report", "status words=report"),
        ),
    ),
)


def _listing(clause: Clause) -> Intent:
    return Intent(IntentKind.LIST, text=clause.text, status=list_status(clause.text))


# "get milk", "check the oil", "open the window" are tasks, not list requests: these verbs
# show the list only when a list word follows.
_TASK_LIKE_VERBS = frozenset(
    "get check open read review give tell load fetch refresh see print output dump recap".split()
)
_MENTIONS_A_LIST = re.compile(r"\b(?:" + _LIST_WORDS + r"|what|how)\b", I)


def _show(match: re.Match[str], clause: Clause) -> Intent | None:
    rest = (match["rest"] or "").strip()
    verb = clause.text.split()[0].lower()
    if re.match(r"^get\s+rid\b", clause.text, I):
        return None
    if verb in _TASK_LIKE_VERBS and not (rest and _MENTIONS_A_LIST.search(rest)):
        return None
    if (
        verb in {"show", "list", "display", "view"}
        and rest
        and not re.search(r"\b(?:" + _LIST_WORDS + r"|what|how|my|me|the)\b", rest, I)
    ):
        return None
    return _listing(clause)


def _question(match: re.Match[str], clause: Clause) -> Intent | None:
    if not re.search(r"\b(?:" + _LIST_WORDS + r"|i have|do i|have i)\b", clause.text, I):
        return None
    return _listing(clause)


def _any(match: re.Match[str], clause: Clause) -> Intent | None:
    return _listing(clause)


RULES = (
    Rule(
        "show my list",
        re.compile(
            r"^(?:show|list|display|view|print|see|output|dump|fetch|recap|summarize|summarise|"
            r"read|review|give|get|pull up|bring up|open|load|refresh|check|tell|let me see|"
            r"lemme see|can i see|may i see|i want to see|i'd like to see|i wanna see)"
            r"(?:\s+(?:me|us|out))?(?:\s+(?:back|again|up))?"
            r"(?:\s+(?P<rest>.+))?$",
            I,
        ),
        _show,
        (
            ("show my tasks", "list status=all"),
            ("show me what's left", "list status=pending"),
            ("check the oil", "none"),
        ),
    ),
    Rule(
        "what is left",
        re.compile(
            r"^(?:what|what's|whats|what is|what are|which|what else|what have|what did)\b.*$", I
        ),
        _question,
        (
            ("what's left", "list status=pending"),
            ("what have I finished", "list status=completed"),
        ),
    ),
    Rule(
        "do I have anything",
        re.compile(
            r"^(?:do|have|did|is|are|any|anything|got|how many|how much|how's|how is|how am i)"
            r"\b.*\b(?:" + _LIST_WORDS + r")\b.*$",
            I,
        ),
        _any,
        (("how many tasks do I have", "list status=all"),),
    ),
    Rule(
        "my tasks",
        re.compile(
            r"^(?:(?:my|all|all my|all of my|the|current|today's|todays)\s+)*(?:(?:pending|"
            r"completed|done|finished|open|remaining|outstanding|current|unfinished|incomplete|"
            r"active|checked off)\s+)?(?:tasks|todos|to-dos|to dos|todo list|to-do list|"
            r"task list|list|items|stuff|agenda|ones|reminders)$|^(?:everything|all|pending|"
            r"completed|done|finished|remaining|outstanding|status|summary|overview|progress|"
            r"list)$",
            I,
        ),
        _any,
        (("my pending tasks", "list status=pending"), ("completed", "list status=completed")),
    ),
    Rule(
        "remind me what I have to do",
        re.compile(
            r"^(?:remind|tell)\s+me\s+(?:what|of what|about what)\s+(?:i|we)\s+(?:have|need|"
            r"still have|still need|got|must)\b.*$|^(?:remind|tell)\s+me\s+(?:what's|what is)\s+"
            r"(?:left|on my list|pending|next)\b.*$",
            I,
        ),
        _any,
        (("remind me what I have to do", "list status=pending"),),
    ),
    Rule(
        "where am I",
        re.compile(r"^where\s+(?:am\s+i|are\s+we|do\s+i\s+stand|things\s+stand)\b.*$", I),
        _any,
        (("where am I at", "list status=all"),),
    ),
    Rule(
        "did I add",
        re.compile(
            r"^(?:did|have|had)\s+(?:i|we|you)\s+(?:already\s+|ever\s+|just\s+)?(?:add|added|"
            r"put|create|created|write|written|note|noted|save|saved|list|listed)\b.*$",
            I,
        ),
        _any,
        (("did I already add milk", "list status=all"),),
    ),
)


def parse_list(clause: Clause) -> Intent | None:
    if _NOT_A_LIST.match(clause.text):
        return None
    for rule in RULES:
        if rule.pattern.match(clause.text):
            return rule.parse(clause)  # the first pattern that matches decides
    return None
