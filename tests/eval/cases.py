"""The evaluation sets: where they are, and the per-category table.

Loading and judging cases is `backend.evaluation`'s (the same code serves `todo-agent eval`).
"""

from __future__ import annotations

from pathlib import Path

from backend.evaluation import Case, ExpectedTask, judge, load_cases

__all__ = [
    "CASES_FILE",
    "HOLDOUT_FILE",
    "PROBE_FILE",
    "Case",
    "ExpectedTask",
    "accuracy_table",
    "judge",
    "load_cases",
]

CASES_FILE = Path(__file__).with_name("cases.yaml")
HOLDOUT_FILE = Path(__file__).with_name("holdout.yaml")
PROBE_FILE = Path(__file__).with_name("probe.yaml")


def accuracy_table(results: dict[str, list[bool]]) -> str:
    """Per-category pass rate, then the total."""
    lines = [f"{'category':<18} {'passed':>7} {'cases':>6} {'accuracy':>9}"]
    total_passed = total = 0
    for category, outcomes in results.items():
        passed = sum(outcomes)
        total_passed += passed
        total += len(outcomes)
        lines.append(
            f"{category:<18} {passed:>7} {len(outcomes):>6} {100 * passed / len(outcomes):>8.1f}%"
        )
    if total:
        lines.append(
            f"{'TOTAL':<18} {total_passed:>7} {total:>6} {100 * total_passed / total:>8.1f}%"
        )
    return "\n".join(lines)
