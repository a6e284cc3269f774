"""Counts the reliability tests gather (requests sent, failures, lost or duplicated records,
fuzz cases), printed at the end of the pytest run by `conftest.pytest_terminal_summary`."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()


def count(name: str, amount: int = 1) -> None:
    FIGURES[name] += amount
