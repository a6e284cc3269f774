"""Run the evaluation cases through the Agents SDK loop with in-memory tools."""

from __future__ import annotations

from tests.eval.cases import Case, judge
from tests.eval.harness import Conversation


async def run_case_in_memory(case: Case, *, streamed: bool = False) -> list[str]:
    chat = Conversation(streamed=streamed)
    chat.store.seed(case.seed())
    reply = ""
    for message in case.messages:
        chat.store.calls.clear()
        reply = await chat.say(message)
    calls = [name for name, _ in chat.store.calls]
    final = [{**task.public()} for task in chat.store.tasks]
    return judge(case, final, reply, calls)
