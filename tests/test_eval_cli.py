"""`todo-agent eval` against the fake provider and the offline model (scratch database and MCP
process of its own; the chat route in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.cli import main
from tests.support.fake_openai import FakeOpenAI, text, tool_call

CASES = """
- id: add-plain
  category: add
  messages: ["add buy milk"]
  tasks: ["Buy milk"]
  mentions: ["Buy milk"]
- id: list-all
  category: list
  start: ["Buy milk", "[x] Call mom"]
  messages: ["show my tasks"]
  tasks: ["Buy milk", "[x] Call mom"]
  mentions: ["Buy milk", "Call mom"]
"""


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(CASES)
    return path


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI.running() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield server


def test_eval_runs_the_cases_against_a_provider_and_writes_a_report(
    fake: FakeOpenAI, cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(
        tool_call("add_task", {"title": "Buy milk"}),
        text("Added 'Buy milk'."),
        tool_call("list_tasks", {}),
        text("You have one task: Buy milk."),  # forgets "Call mom": the case fails
    )
    report_file = tmp_path / "report.json"
    assert (
        main(["eval", "--model", "fake-model", "--cases", str(cases), "--json", str(report_file)])
        == 0
    )
    out = capsys.readouterr()
    report = json.loads(report_file.read_text())
    assert report["model"] == "fake-model"
    assert report["categories"]["add"] == {
        "cases": 1,
        "passed": 1,
        "accuracy": 1.0,
        "tool_calls": 1,
    }
    assert report["categories"]["list"]["passed"] == 0
    assert report["total"]["turns"] == 2
    # What was sent is measured: the second case's listing went back to the model.
    assert all(case["tokens_per_turn"][0] > 100 for case in report["cases"])
    assert len(fake.requests) == 4
    assert "TOTAL" in out.out and "FAIL list-all" in out.out
    assert "2/2" in out.err  # the progress bar


def test_eval_defaults_to_the_offline_model(
    cases: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["eval", "--cases", str(cases)]) == 0
    out = capsys.readouterr().out
    assert "model: offline" in out
    assert "TOTAL                    2      2    100.0%" in out
