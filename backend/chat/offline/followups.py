"""Answers to what the assistant asked in the turn before: the state is in the history.

"yes" after deletes the guard held back (their stored calls say so), "yes" after an offer to
add what read like a task (derived again from that message), and "the bank one" after "which
one do you mean?" (derived again from the earlier message and the listing its turn made).
"""

from __future__ import annotations

import re
from dataclasses import replace

from backend.chat.delete_guard import AWAITING, is_confirmation
from backend.chat.offline.actions import suggestion_for
from backend.chat.offline.intents import (
    CHAT,
    Intent,
    IntentKind,
    RefKind,
    Target,
    parse_message,
    parse_target,
)
from backend.chat.offline.matching import match_tasks
from backend.chat.offline.transcript import Transcript

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
    intents = [i for i in parse_message(previous.user_text) if i.kind not in CHAT]
    if len(intents) != 1:
        return None
    if previous.calls:
        # "cancel the gym membership" looked for a task first and found none: it was offered
        # as a new task (finding.py), so it is one now.
        intent = intents[0]
        listing = previous.calls[-1].result
        looked_only = all(call.name == "list_tasks" for call in previous.calls)
        if not (intent.extra.get("if_listed") and looked_only and listing is not None):
            return None
        if intent.target is None or match_tasks(intent.target.name, listing.tasks).found:
            return None
        suggestion = suggestion_for(replace(intent, kind=IntentKind.UNKNOWN))
    else:
        suggestion = suggestion_for(intents[0])
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


_ANSWERABLE = frozenset(
    {IntentKind.COMPLETE, IntentKind.DELETE, IntentKind.UPDATE, IntentKind.REOPEN}
)


def _choosing_among_matches(transcript: Transcript) -> Intent | None:
    """ "the bank one", "the second one" right after "which one do you mean?": the action the
    earlier message asked for, on the task the answer picks among the ones that matched."""
    if not transcript.earlier:
        return None
    now = parse_message(transcript.current.user_text)
    if len(now) != 1 or now[0].kind != IntentKind.UNKNOWN:
        return None
    previous = transcript.earlier[-1]
    if not previous.calls or any(call.name != "list_tasks" for call in previous.calls):
        return None  # the earlier turn acted: it asked nothing
    asked = [i for i in parse_message(previous.user_text) if i.kind in _ANSWERABLE]
    listing = previous.calls[-1].result
    if len(asked) != 1 or asked[0].target is None or not asked[0].target.name or listing is None:
        return None
    candidates = list(match_tasks(asked[0].target.name, listing.tasks).found)
    answer = parse_target(now[0].text)
    if len(candidates) < 2 or answer is None:
        return None
    if answer.ref is not None and answer.ref.kind == RefKind.POSITION:
        chosen = answer.ref.pick(candidates) or []
    else:
        chosen = list(match_tasks(answer.name, candidates).found) if answer.name else []
    if len(chosen) != 1:
        return None
    return replace(asked[0], text=transcript.current.user_text, target=Target(ids=(chosen[0].id,)))


def answer_to_a_question(transcript: Transcript) -> Intent | None:
    return (
        _confirming_held_deletes(transcript)
        or _accepting_a_suggestion(transcript)
        or _choosing_among_matches(transcript)
    )
