"""What a message asks for: everyday todo language turned into typed intents.

    kinds.py     IntentKind, Target, Ref (by id / words / position / recency / "it"), Intent
    rules.py     Rule: a named pattern, what it builds, and examples that run as tests
    text.py      fillers and request words removed     typos.py   misspelt command words
    targets.py   how a clause names tasks               titles.py  task titles out of an add
    add.py  listing.py  complete.py  delete.py  update.py  chat.py  labels.py   the rules
    clauses.py   a message cut into clauses, "it" bound to what the message named

To teach the model a phrasing, add a Rule (with examples) to the module of its intent.
"""

from backend.chat.offline.intents.clauses import asks_for_a_list, parse_clause, parse_message
from backend.chat.offline.intents.kinds import (
    ACTIONS,
    CHAT,
    Intent,
    IntentKind,
    NewTask,
    Ref,
    RefKind,
    Target,
    describe,
)
from backend.chat.offline.intents.targets import parse_target
from backend.chat.offline.intents.titles import parse_add_body

__all__ = [
    "ACTIONS",
    "CHAT",
    "Intent",
    "IntentKind",
    "NewTask",
    "Ref",
    "RefKind",
    "Target",
    "asks_for_a_list",
    "describe",
    "parse_add_body",
    "parse_clause",
    "parse_message",
    "parse_target",
]
