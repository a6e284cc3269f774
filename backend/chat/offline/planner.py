"""Deciding the next step of a turn: more tool calls, or the final reply.

The plan for a message is ordinary code that calls tools and reads their results. It runs from
the start on every model call, and the calls the turn already made are answered from their
recorded outputs, in order; the first call with no output yet stops the run, and that call (with
any others of the same batch) is what the model asks for next. Once every call has its output
the plan finishes and its text is the reply. So each step is a pure function of the input items:
no state between calls, and one model object can serve any number of conversations at once.
"""

from __future__ import annotations

import re

from backend.chat.delete_guard import AWAITING, is_confirmation
from backend.chat.offline import replies
from backend.chat.offline.actions import HANDLERS, suggestion_for
from backend.chat.offline.intents import Intent, IntentKind, Target, parse_message
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


_YES = re.compile(
    r"^(?:yes|yeah|yep|yup|sure|ok|okay|please|yes please|please do|do it|go ahead|add it|"
    r"yes add it|yes,? please add it|sure,? add it|ok add it|correct|right|exactly)[.! ]*$",
    re.IGNORECASE,
)


def _accepting_a_suggestion(transcript: Transcript) -> Intent | None:
    """ "yes" right after a message that read like a task ("buy milk") and was offered as one.

    The offer is derived again from that earlier message (its turn made no tool call), not
    read back from the reply: what the conversation holds is the person's words.
    """
    if not transcript.earlier or not _YES.match(transcript.current.user_text.strip()):
        return None
    previous = transcript.earlier[-1]
    if previous.calls:
        return None
    intents = [i for i in parse_message(previous.user_text) if i.kind not in _CHAT_REPLIES]
    suggestion = suggestion_for(intents[0]) if len(intents) == 1 else None
    if suggestion is None:
        return None
    return Intent(IntentKind.ADD, text=transcript.current.user_text, tasks=(suggestion,))


def _confirming_held_deletes(transcript: Transcript) -> Intent | None:
    """ "yes" right after the delete guard held deletes back: delete exactly those."""
    if not transcript.earlier or not is_confirmation(transcript.current.user_text):
        return None
    held = [
        call.arguments.get("task_id")
        for call in transcript.earlier[-1].calls
        if call.result is not None and call.result.status == AWAITING
    ]
    ids = tuple(dict.fromkeys(i for i in held if isinstance(i, int)))
    if not ids:
        return None
    return Intent(IntentKind.DELETE, text=transcript.current.user_text, target=Target(ids=ids))


def next_step(transcript: Transcript) -> Step:
    memory = Memory.from_turns(transcript.earlier)
    accepted = _confirming_held_deletes(transcript) or _accepting_a_suggestion(transcript)
    intents = [accepted] if accepted else parse_message(transcript.current.user_text)
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
