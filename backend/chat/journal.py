"""The turn's journal: its tool calls written to the database as they happen.

A turn used to store everything at its end, so a process killed after a tool ran left a task
that no history explained, and a retry with the same Idempotency-Key ran the tool again. Now,
before the MCP client sends a tool call, the journal commits it:

- the first call of a turn inserts the user's message and an assistant message that says the
  reply was interrupted, holding the call with "no result yet"; it also leaves that
  "interrupted" answer on the request's Idempotency-Key row (still running);
- each call is recorded before it is sent and updated with its result when it returns.

When the turn ends, normally or not, its final write gives the journal's assistant message its
final content and tool calls in place (the user's message stays as written), in the same
transaction as the rest of the turn's end. If the process dies instead, what ran is in the history,
the claim lapses within seconds (backend/chat/lease.py), and a retry with the key gets the
interrupted answer instead of running the tools again (backend/chat/idempotency.py).

A tool call whose journal entry cannot be written (the database is down) is not sent.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp.types import CallToolResult
from sqlalchemy import bindparam, update
from sqlmodel import col

from backend.chat import claims, idempotency
from backend.chat.history import bounded_result
from backend.db import UNSYNCED, session_scope
from backend.dbwork import database_work
from backend.models import Message, utcnow

NO_RESULT = {"error": "The turn stopped before this tool answered; the change may have been made."}
INTERRUPTED_REPLY = (
    "Sorry, this reply was interrupted before it was finished (the server stopped). "
    "The actions listed above were started; check your tasks before trying again."
)
INTERRUPTED_DETAIL = (
    "The reply was interrupted (the server stopped) after it had started changing tasks; "
    "the conversation shows what ran"
)

# Built once (as the turn's other UPDATEs in backend/chat/claims.py).
_CALLS_SO_FAR = (
    update(Message)
    .where(col(Message.id) == bindparam("reply_id"))
    .values(tool_calls=bindparam("calls"))
)


def call_result(result: CallToolResult) -> Any:
    """A tool's result as JSON, as the turn reports it: structured content, text, or an error."""
    text = "\n".join(getattr(part, "text", "") for part in result.content)
    if result.is_error:
        return {"error": text}
    if result.structured_content is not None:
        return result.structured_content
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class TurnJournal:
    """What one turn has sent to the task server so far, kept in the database."""

    user_id: str
    conversation_id: int
    user_message: str
    started_at: datetime  # the turn's start: the time its user message is stored with
    idempotency_key: str | None = None
    fingerprint: str | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    message_ids: tuple[int, int] | None = None  # the user's and the assistant's, once written
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def started(self) -> bool:
        return self.message_ids is not None

    async def before_call(self, tool: str, arguments: dict[str, Any]) -> int:
        """Record a call about to be sent; its index for `after_call`."""
        self.entries.append(
            {
                "call_id": f"journal-{len(self.entries)}",
                "tool": tool,
                "parameters": arguments,
                "result": NO_RESULT,
            }
        )
        index = len(self.entries) - 1
        await self._write_serially()
        return index

    async def after_call(self, index: int, result: CallToolResult | None) -> None:
        """Record a call's result (None: it failed in transport; the change may have happened)."""
        if result is not None:
            self.entries[index]["result"] = bounded_result(call_result(result))
            await self._write_serially()

    async def _write_serially(self) -> None:
        # The model may call several tools at once: without the lock, two first writes would
        # each insert the turn's messages, and one pair would outlive the turn's final write.
        async with self._lock:
            await database_work().run(self._write)

    def _write(self) -> None:
        if self.message_ids is None:
            self.message_ids = self._insert()
            return
        # One statement, atomic on its own: no transaction around it.
        with session_scope(autocommit=True) as session:
            session.exec(
                _CALLS_SO_FAR,
                params={"reply_id": self.message_ids[1], "calls": list(self.entries)},
                execution_options=UNSYNCED,
            )

    def _insert(self) -> tuple[int, int]:
        key, fingerprint = self.idempotency_key, self.fingerprint
        keyed = (key, fingerprint) if key is not None and fingerprint is not None else None
        # Both messages go in one INSERT, atomic on its own; the interrupted answer on the
        # Idempotency-Key row must commit with them, so a keyed turn takes a transaction.
        with session_scope(autocommit=keyed is None) as session:
            ids = claims.insert_turn_messages(
                session=session,
                user_id=self.user_id,
                conversation_id=self.conversation_id,
                user_message=self.user_message,
                asked_at=self.started_at,
                reply=INTERRUPTED_REPLY,
                tool_calls=list(self.entries),
                replied_at=utcnow(),
            )
            if keyed is not None:
                idempotency.store_answer(
                    session=session,
                    user_id=self.user_id,
                    key=keyed[0],
                    request_fingerprint=keyed[1],
                    answer=idempotency.StoredAnswer(503, {"detail": INTERRUPTED_DETAIL}),
                    conversation_id=self.conversation_id,
                    final=False,
                )
            session.commit()
        return ids
