"""The offline model in the real Agents SDK loop, with in-memory tools shaped like the MCP ones."""

from __future__ import annotations

import asyncio
import json

import pytest
from agents import ModelSettings
from agents.models.interface import ModelTracing

from backend.chat.offline import OfflineModel
from tests.eval.harness import Conversation


@pytest.fixture(params=[False, True], ids=["run", "streamed"])
def chat(request: pytest.FixtureRequest) -> Conversation:
    return Conversation(streamed=request.param)


async def test_add_then_list_then_complete_by_name(chat: Conversation) -> None:
    reply = await chat.say("add buy milk")
    assert reply == 'Added "Buy milk" (#1) to your list.'
    reply = await chat.say("what's left?")
    assert "#1 Buy milk" in reply
    reply = await chat.say("I finished buying milk")
    assert '"Buy milk" (#1)' in reply and "done" in reply
    assert chat.store.snapshot() == [{"title": "Buy milk", "completed": True}]
    # Completing by name looks the task up first, then acts on its id.
    assert [name for name, _ in chat.store.calls] == [
        "add_task",
        "list_tasks",
        "list_tasks",
        "complete_task",
    ]


async def test_a_reference_to_an_earlier_turn_uses_its_tool_results(chat: Conversation) -> None:
    chat.store.seed(["Water the plants"])
    await chat.say("add call the plumber")
    reply = await chat.say("actually mark it done")
    assert '"Call the plumber" (#2)' in reply
    assert chat.store.snapshot() == [
        {"title": "Water the plants", "completed": False},
        {"title": "Call the plumber", "completed": True},
    ]


async def test_small_talk_touches_no_task(chat: Conversation) -> None:
    for message in ("hi", "what can you do?", "thanks!"):
        await chat.say(message)
    assert chat.store.calls == []
    assert "rule-based" in chat.replies[1] and "OPENAI_API_KEY" in chat.replies[1]


async def _ask(model: OfflineModel, items: list) -> list:
    response = await model.get_response(
        None,
        items,
        ModelSettings(),
        [],
        None,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    return response.output


async def test_the_same_input_gives_the_same_answer_and_one_model_serves_many_chats() -> None:
    model = OfflineModel()
    first = [{"role": "user", "content": "add eggs and bread"}]
    other = [{"role": "user", "content": "show my tasks"}]
    answers = await asyncio.gather(*[_ask(model, first if i % 2 else other) for i in range(20)])
    dumps = {json.dumps([item.model_dump() for item in answer]) for answer in answers}
    assert len(dumps) == 2
    calls = await _ask(model, first)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("add_task", {"title": "Eggs"}),
        ("add_task", {"title": "Bread"}),
    ]


async def test_call_ids_never_repeat_within_a_conversation() -> None:
    chat = Conversation()
    for message in ("add milk", "add milk", "complete task 1", "complete task 1"):
        await chat.say(message)
    call_ids = [item["call_id"] for item in chat.history if item.get("type") == "function_call"]
    assert len(call_ids) == 4 and len(set(call_ids)) == 4


async def test_streaming_yields_the_reply_in_word_deltas() -> None:
    model = OfflineModel()
    events = [
        event
        async for event in model.stream_response(
            None,
            [{"role": "user", "content": "hello"}],
            ModelSettings(),
            [],
            None,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 3
    assert events[-1].type == "response.completed"
    assert "".join(deltas) == events[-1].response.output[0].content[0].text


async def test_a_tool_error_is_relayed_in_plain_words() -> None:
    chat = Conversation()
    reply = await chat.say("add " + "x" * 250)
    assert "at most 200 characters" in reply and "x" * 100 not in reply
    reply = await chat.say("complete task 9")
    assert reply == "I couldn't complete task #9: Task 9 not found."


async def test_a_message_with_too_many_actions_does_the_first_four_and_says_so() -> None:
    chat = Conversation()
    reply = await chat.say("add a. add b. add c. add d. add e. add f")
    assert [t["title"] for t in chat.store.snapshot()] == ["A", "B", "C", "D"]
    assert "first 4" in reply


async def test_nothing_is_guessed_when_no_task_matches() -> None:
    chat = Conversation()
    chat.store.seed(["Buy milk", "Call mom"])
    reply = await chat.say("delete the yoga task")
    assert 'couldn\'t find a task matching "yoga"' in reply
    assert "#1 Buy milk" in reply and "#2 Call mom" in reply
    assert [name for name, _ in chat.store.calls] == ["list_tasks"]


async def test_cancel_deletes_a_task_only_when_one_matches() -> None:
    chat = Conversation()
    chat.store.seed(["Call the dentist", "Buy milk"])
    # Nothing matches: nothing is deleted or added; it is offered as a new task.
    reply = await chat.say("cancel netflix")
    assert 'no task about "netflix"' in reply and '"Cancel netflix"' in reply
    assert [name for name, _ in chat.store.calls] == ["list_tasks"]
    await chat.say("yes")
    assert [t["title"] for t in chat.store.snapshot()] == [
        "Call the dentist",
        "Buy milk",
        "Cancel netflix",
    ]
    reply = await chat.say("cancel the dentist, I'll go next month")
    assert reply == 'Deleted "Call the dentist" (#1).'
    # A task that is itself "Cancel ..." may be meant as done: it asks.
    reply = await chat.say("cancel netflix")
    assert "delete task 3" in reply and "complete task 3" in reply
    assert [t["title"] for t in chat.store.snapshot()] == ["Buy milk", "Cancel netflix"]


async def test_yes_after_a_suggestion_adds_the_suggested_task() -> None:
    chat = Conversation()
    reply = await chat.say("buy a birthday present")
    assert chat.store.calls == [] and '"Buy a birthday present"' in reply
    await chat.say("yes please")
    assert chat.store.snapshot() == [{"title": "Buy a birthday present", "completed": False}]
    # "yes" with no suggestion before it is just a polite word.
    await chat.say("yes")
    assert len(chat.store.snapshot()) == 1


async def test_a_question_about_one_task_gets_a_yes_or_no() -> None:
    chat = Conversation()
    chat.store.seed(["Buy milk", {"title": "Walk the dog", "completed": True}])
    assert await chat.say("is the milk done?") == 'No, "Buy milk" (#1) is not done yet.'
    assert await chat.say("did I walk the dog?") == 'Yes, "Walk the dog" (#2) is done.'
    assert {name for name, _ in chat.store.calls} == {"list_tasks"}


async def test_calls_it_did_not_plan_stop_the_turn_instead_of_acting_blindly() -> None:
    # The running turn already holds a call this plan would not make (say, from another model).
    items = [
        {"role": "user", "content": "add buy milk"},
        {
            "type": "function_call",
            "call_id": "x1",
            "name": "delete_task",
            "arguments": '{"task_id": 1}',
        },
        {
            "type": "function_call_output",
            "call_id": "x1",
            "output": '{"task_id": 1, "status": "deleted", "title": "A"}',
        },
    ]
    output = await _ask(OfflineModel(), items)
    assert output[0].type == "message"
    assert "check your list" in output[0].content[0].text


async def test_each_message_and_tool_output_is_parsed_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every model call reads the whole conversation again; what it read before is not re-parsed."""
    from backend.chat.offline import results
    from backend.chat.offline.intents import clauses

    parsed: list[str] = []
    decoded: list[str] = []
    split, decode = clauses.split_clauses, results._decode
    monkeypatch.setattr(clauses, "split_clauses", lambda text: parsed.append(text) or split(text))
    monkeypatch.setattr(results, "_decode", lambda out: decoded.append(str(out)) or decode(out))
    chat = Conversation()
    # Words no other test uses, so no earlier test has filled the cache with these texts.
    for message in ("add quokka grooming", "add wombat feeding", "what's left?", "thanks"):
        await chat.say(message)
    assert "Quokka grooming" in chat.replies[2] and "Wombat feeding" in chat.replies[2]
    assert len(parsed) == len(set(parsed)) and len(decoded) == len(set(decoded))
    assert len(decoded) >= 3  # two adds and the listing were read
