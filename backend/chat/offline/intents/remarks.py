"""Remarks: what a person adds after a comma to explain an action, not to name a task.

"never mind the milk, I don't need it", "remove the dentist, i already went", "mark the milk
done, finally", "cancel the dentist, I'll go next month": the task is named before the comma,
and the rest says why. clauses.py reads the part before the comma as the action when the
remark asks for nothing of its own (an "it" in it means the same task). A correction is never a
remark ("delete the milk, I mean the bread"), nor a replacement ("..., I need eggs instead").
"""

from __future__ import annotations

import re

I = re.IGNORECASE  # noqa: E741

_SUBJECT = (
    r"(?:i|im|ive|we|it|its|that|this|they|he|she|there)"
    r"(?:'(?:m|s|re|ve|ll|d))?(?:\s+(?:am|is|are|have|has|will|would|was|were))?"
)
# What makes the rest a correction or a request, not an explanation.
_NOT_A_REMARK = re.compile(
    r"^(?:i|we)(?:'\w+)?\s+(?:mean|meant|said|want|wanted|would like|need you|asked)\b|"
    r"\b(?:instead|rather|not the|wrong one|the other)\b",
    I,
)
_REMARK = re.compile(
    r"^(?P<head>.+?)\s*,\s*(?P<remark>(?:"
    + _SUBJECT
    + r"\b|(?:because|cause|'cause|cos|coz|since|as i|as we|as it)\b|"
    r"(?:finally|at last|at long last|already|thankfully|thank god|thank goodness|phew|whew|"
    r"yay|hooray|woohoo|for good|turns out|no longer needed|not needed|don't need it|"
    r"dont need it|no need)\b).*)$",
    I,
)

EXAMPLES = (
    ("never mind the milk, I don't need it", "never mind the milk"),
    ("remove the dentist, i already went", "remove the dentist"),
    ("mark the milk done, finally", "mark the milk done"),
    ("cancel the dentist, I will go next month", "cancel the dentist"),
    ("delete the milk, I mean the bread", ""),
    ("delete the milk, I need oat milk instead", ""),
    ("remove eggs, milk and bread", ""),
)


def split_remark(text: str) -> tuple[str, str] | None:
    """(the action, the remark) when `text` ends in a remark after a comma, else None."""
    match = _REMARK.match(text)
    if match is None or _NOT_A_REMARK.search(match["remark"]):
        return None
    return match["head"], match["remark"]
