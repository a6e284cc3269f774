"""The turns running in this app, by conversation: a cancel request that lands on the process
running the turn stops it at once, without waiting for the turn's poll of the database flag.

One per app (`app.state.running_turns`, built in the lifespan), so it only ever knows this
process's turns; a turn on another replica is reached through `backend.chat.cancel`.
"""

from __future__ import annotations

from backend.chat.turn import TurnRun


class RunningTurns:
    def __init__(self) -> None:
        self._turns: dict[int, TurnRun] = {}

    def add(self, turn: TurnRun) -> TurnRun:
        conversation_id = turn.prepared.claimed.conversation_id
        self._turns[conversation_id] = turn

        def forget() -> None:
            if self._turns.get(conversation_id) is turn:
                del self._turns[conversation_id]

        turn.when_finished(forget)
        return turn

    def find(self, user_id: str, conversation_id: int, claim: str) -> TurnRun | None:
        """The turn holding `claim` on the user's conversation, if it runs here."""
        turn = self._turns.get(conversation_id)
        if turn is None or turn.prepared.request.user_id != user_id:
            return None
        return turn if turn.prepared.claimed.claim == claim else None

    def __len__(self) -> int:
        return len(self._turns)
