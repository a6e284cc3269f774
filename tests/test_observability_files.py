"""The Grafana dashboard, the alert rules and the docs name only series the code defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import backend.observability.metrics  # noqa: F401  (defines the series)

ROOT = Path(__file__).resolve().parent.parent
SERIES = re.compile(r"\btodo_agent_\w+")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}


def defined_series() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("todo_agent_"):
            names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/todo-agent.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/todo-agent-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_the_dashboard_and_the_alerts_use_only_defined_series() -> None:
    defined = defined_series()
    expressions = dashboard_expressions() + alert_expressions()
    used = {name for expr in expressions for name in SERIES.findall(expr)}
    assert used and used <= defined, used - defined


def test_the_docs_list_every_series() -> None:
    listed = set(SERIES.findall((ROOT / "docs/observability.md").read_text()))
    base = {name for name in defined_series() if not name.endswith(("_bucket", "_count", "_sum"))}
    histograms = {name.removesuffix("_bucket") for name in defined_series() if "_bucket" in name}
    missing = {name for name in base | histograms if name not in listed}
    assert not missing
