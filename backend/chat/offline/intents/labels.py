"""A structured add: fields given by labels, as forms and other apps write them.

"create a todo for the report. Title: Q3 report. Details: include the sales numbers" adds
"Q3 report" with that description. "Title:" starts the text or a sentence, and the text
before it must be empty or ask for an add (so "change the title: X" and "add a note to the
X task: Y" are not adds).
"""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import Intent, IntentKind, NewTask
from backend.chat.offline.intents.text import capitalize, strip_quotes

_DESCRIPTION_LABEL = r"(?:details?|description|desc|notes?|info)"
_TITLE = re.compile(
    r"(?:^|(?<=[.;!?])\s*|(?<=[.;!?]\s))(?:the\s+)?(?:title|name)\s*:\s*(?P<title>.+?)"
    r"\s*(?:[.;,]\s*|\s+)?"
    r"(?=\b" + _DESCRIPTION_LABEL + r"\s*:|$)",
    re.IGNORECASE,
)
_DESCRIPTION = re.compile(r"\b" + _DESCRIPTION_LABEL + r"\s*:\s*(?P<d>.+)$", re.IGNORECASE)
_ASKS_TO_ADD = re.compile(
    r"^\W*(?:(?:please|pls|can you|could you|would you)\s+)*(?:add|create|make|new|put|set up|"
    r"insert|i need|todo|to-do|task|remind)\b|^\W*$",
    re.IGNORECASE,
)

EXAMPLES = (
    (
        "create a todo for the report. Title: Q3 report. Details: include the sales numbers",
        "add Q3 report (include the sales numbers)",
    ),
    ("Title: Fix the bike; Description: flat tyre", "add Fix the bike (flat tyre)"),
    ("change the title: Buy bread", "none"),
    ("add a note to the dentist task: ask about whitening", "none"),
)


def parse_labelled_add(text: str) -> Intent | None:
    title = _TITLE.search(text)
    if title is None or not _ASKS_TO_ADD.match(text[: title.start()]):
        return None
    name = capitalize(strip_quotes(title["title"].strip(" .;,")))
    if not name:
        return None
    description = ""
    if found := _DESCRIPTION.search(text, title.end()):
        description = strip_quotes(found["d"].strip(" .;"))
    return Intent(IntentKind.ADD, text=text, tasks=(NewTask(name, description),))
