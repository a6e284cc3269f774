"""Reading tool outputs in every shape the agent loop delivers, and reading the transcript."""

from __future__ import annotations

import json

import pytest

from backend.chat.offline.results import TaskInfo, parse_tool_output
from backend.chat.offline.transcript import read_transcript

CHANGE = {"task_id": 3, "status": "created", "title": "Buy milk"}
LISTING = {
    "tasks": [
        {"id": 1, "title": "A", "description": "", "completed": False},
        {"id": 2, "title": "B", "description": "x", "completed": True},
    ],
    "count": 2,
}


@pytest.mark.parametrize(
    "output",
    [
        json.dumps(CHANGE),  # structured content as JSON
        {"type": "text", "text": json.dumps(CHANGE)},  # one text part
        [{"type": "input_text", "text": json.dumps(CHANGE)}],  # parts, as replayed input
        json.dumps({"result": CHANGE}),  # wrapped
        CHANGE,
    ],
)
def test_a_changed_task_in_any_shape(output: object) -> None:
    result = parse_tool_output(output)
    assert result.ok and result.tasks == (TaskInfo(3, "Buy milk"),) and result.status == "created"


def test_a_listing() -> None:
    result = parse_tool_output(json.dumps(LISTING))
    assert result.ok
    assert [(t.id, t.title, t.completed, t.description) for t in result.tasks] == [
        (1, "A", False, ""),
        (2, "B", True, "x"),
    ]
    assert parse_tool_output(json.dumps({"result": LISTING["tasks"]})).tasks == result.tasks


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "Error executing tool complete_task: Task 9 not found. Call list_tasks to see the ids "
            "of your tasks.",
            "Task 9 not found.",
        ),
        (
            [
                {
                    "type": "text",
                    "text": "Error executing tool add_task: Invalid input: title must "
                    "be at most 200 characters",
                }
            ],
            "Invalid input: title must be at most 200 characters",
        ),
        (
            "An error occurred while running the tool. Please try again. Error: Task 4 not found",
            "Task 4 not found",
        ),
        (json.dumps({"error": "Task 5 not found"}), "Task 5 not found"),
    ],
)
def test_errors_are_recognised_and_cleaned_for_people(output: object, message: str) -> None:
    result = parse_tool_output(output)
    assert not result.ok and result.error == message


def test_the_transcript_splits_turns_and_pairs_calls_with_outputs() -> None:
    items = [
        {"role": "user", "content": "add milk"},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "add_task",
            "arguments": '{"title": "Milk"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": json.dumps(CHANGE)},
        {"role": "assistant", "content": "Added."},
        {"role": "user", "content": [{"type": "input_text", "text": "mark it done"}]},
        {
            "type": "function_call",
            "call_id": "c2",
            "name": "complete_task",
            "arguments": '{"task_id": 3}',
        },
    ]
    transcript = read_transcript(items)
    assert [t.user_text for t in transcript.earlier] == ["add milk"]
    assert transcript.earlier[0].calls[0].result.tasks[0].id == 3
    assert transcript.earlier[0].reply == "Added."
    assert transcript.current.user_text == "mark it done"
    assert transcript.current.calls[0].result is None  # still running
    # The fingerprint ignores the running turn's own calls, so it is stable within a turn...
    assert read_transcript(items[:5]).fingerprint == transcript.fingerprint
    # ...and differs from turn to turn.
    assert read_transcript(items[:1]).fingerprint != transcript.fingerprint


def test_a_plain_string_input_is_one_user_message() -> None:
    transcript = read_transcript("hello")
    assert transcript.current.user_text == "hello" and transcript.earlier == []
