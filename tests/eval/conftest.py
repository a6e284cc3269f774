"""Collects the evaluation results and prints the accuracy per category after the run."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.eval.cases import Case, accuracy_table

_RESULTS: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))


def record(runner: str, case: Case, passed: bool) -> None:
    _RESULTS[runner][case.category].append(passed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for runner, results in _RESULTS.items():
        label = {
            "http": "through POST /api/{user_id}/chat and the MCP server",
            "memory": "through the in-memory harness",
            "holdout": "on the held-out sets (holdout.yaml + probe.yaml), in memory",
        }.get(runner, runner)
        terminalreporter.write_sep("=", f"offline model evaluation {label}")
        terminalreporter.write_line(accuracy_table(results))
