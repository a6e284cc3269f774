"""Misspelt command words, fixed only where a command word stands."""

from __future__ import annotations

import re

from backend.chat.offline.intents.text import clean
from backend.chat.offline.words import fix_word


def fix_typos(text: str) -> str:
    """Fix misspelt command words where they stand: the clause's first word (after "please" and
    the like), the word "task" before a number, and the status word at the end."""
    cleaned = clean(text)
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
