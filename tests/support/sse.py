"""Reading a server-sent event stream the way the chat clients do: its `data:` payloads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

DONE = "[DONE]"


def data_payloads(lines: Iterable[str], *, only_data: bool = False) -> list[Any]:
    """Each `data:` line's JSON payload, in order, `[DONE]` kept as the string.

    With `only_data`, any other line than a data line or a blank separator fails the test.
    """
    events: list[Any] = []
    for line in lines:
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            events.append(payload if payload == DONE else json.loads(payload))
        elif only_data:
            assert line == "", line
    return events


def sse_events(text: str) -> list[Any]:
    """The payloads of a whole stream's text."""
    return data_payloads(text.splitlines())
