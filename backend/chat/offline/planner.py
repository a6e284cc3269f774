"""Deciding the next step of a turn: more tool calls, or the final reply.

The plan for a message is ordinary code that calls tools and reads their results. It runs from
the start on every model call, and the calls the turn already made are answered from their
recorded outputs, in order; the first call with no output yet stops the run, and that call (with
any others of the same batch) is what the model asks for next. Once every call has its output
the plan finishes and its text is the reply. So each step is a pure function of the input items:
no state between calls, and one model object can serve any number of conversations at once.
"""

from __future__ import annotations

from backend.chat.offline import replies
from backend.chat.offline.actions import HANDLERS
from backend.chat.offline.followups import answer_to_a_question
from backend.chat.offline.intents import Intent, parse_message
from backend.chat.offline.memory import Memory
from backend.chat.offline.session import Diverged, NeedCalls, Step, ToolSession
from backend.chat.offline.transcript import Transcript

_CHAT_REPLIES = {
    "greet": replies.GREETING,
    "thanks": replies.THANKS,
    "help": replies.HELP,
    "bye": replies.BYE,
    "cancel": replies.CANCEL,
}


# The agent loop allows 10 model calls per turn (backend.chat.turn.MAX_TURNS); an action takes
# at most two (list, then act) and the reply one more.
MAX_ACTIONS = 4


def _run(intents: list[Intent], session: ToolSession, memory: Memory) -> str:
    acts = [intent for intent in intents if intent.kind not in _CHAT_REPLIES]
    skipped = len(acts) - MAX_ACTIONS
    acts = acts[:MAX_ACTIONS]
    if not acts:
        # Small talk only: answer the most useful of it (help beats a greeting).
        kinds = [intent.kind for intent in intents]
        for kind in ("help", "cancel", "greet", "bye", "thanks"):
            if kind in kinds:
                return _CHAT_REPLIES[kind]
        return replies.UNKNOWN
    texts = []
    for clause, intent in enumerate(intents):
        if intent in acts:
            memory.clause = clause
            texts.append(HANDLERS[intent.kind](intent, session, memory))
    if intents[0].kind == "greet":
        texts.insert(0, "Hi!")
    if skipped > 0:
        texts.append(
            f"That was a lot at once: I did the first {MAX_ACTIONS} things you asked. "
            "Please send the rest again."
        )
    if intents[-1].kind == "thanks" and len(intents) > 1:
        texts.append("You're welcome!")
    separator = "\n" if any("\n" in text for text in texts) else " "
    return separator.join(text for text in texts if text)


def next_step(transcript: Transcript) -> Step:
    memory = Memory.from_turns(transcript.earlier)
    answer = answer_to_a_question(transcript)
    intents = [answer] if answer else parse_message(transcript.current.user_text)
    memory.start_turn(shows_lists=any(intent.kind == "list" for intent in intents))
    session = ToolSession(transcript.current.calls, memory)
    try:
        return Step(reply=_run(intents, session, memory))
    except NeedCalls as need:
        return Step(calls=need.calls)
    except Diverged:
        return Step(
            reply="I lost track of the steps of this request, so I stopped. Please check "
            "your list and ask again."
        )
