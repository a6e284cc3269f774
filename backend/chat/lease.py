"""A turn's claim on its conversation as a lease: short, renewed while the turn runs.

The claim (backend/chat/claims.py) used to last `TURN_CLAIM_SECONDS` (120 s) from the start, so a
turn whose process was killed locked its conversation for two minutes while the 409 said
"Retry-After: 2". Now a claim lasts `TURN_LEASE_SECONDS` (10 s) and the running turn renews it
(and its Idempotency-Key's lease) every third of that: a dead turn's claim lapses within
seconds, and a 409's Retry-After is the time its lease has left (`TurnInProgressError`).

If a renewal finds the claim gone (the database was unreachable for longer than the lease and
another turn took the conversation over), the turn is cancelled: two turns never write one
conversation at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from backend.chat import idempotency
from backend.db import UNSYNCED, session_scope
from backend.dbwork import database_work
from backend.models import Conversation, utcnow

log = logging.getLogger(__name__)

RENEWALS_PER_LEASE = 3


def renew_claim(
    *, session: Session, user_id: str, conversation_id: int, claim: str, lease_seconds: float
) -> bool:
    """Push our claim's expiry out by a lease; False if the claim is no longer ours."""
    renewed = session.exec(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.user_id) == user_id,
            col(Conversation.turn_claim) == claim,
        )
        .values(
            turn_claim_expires_at=utcnow() + timedelta(seconds=lease_seconds),
            updated_at=Conversation.updated_at,  # renewing is not activity
        ),
        execution_options=UNSYNCED,
    )
    return bool(renewed.rowcount == 1)


def _renew(
    user_id: str, conversation_id: int, claim: str, key: str | None, lease_seconds: float
) -> bool:
    # The claim and the key are renewed together (a transaction) or, without a key, in one
    # statement that needs none.
    with session_scope(autocommit=key is None) as session:
        ours = renew_claim(
            session=session,
            user_id=user_id,
            conversation_id=conversation_id,
            claim=claim,
            lease_seconds=lease_seconds,
        )
        if ours and key is not None:
            idempotency.renew(
                session=session, user_id=user_id, key=key, lease_seconds=lease_seconds
            )
        session.commit()
        return ours


@asynccontextmanager
async def heartbeat(
    *,
    user_id: str,
    conversation_id: int,
    claim: str,
    key: str | None,
    lease_seconds: float,
) -> AsyncIterator[None]:
    """Renew the lease while the enclosed block runs; cancel the block if the claim is lost."""
    owner = asyncio.current_task()
    assert owner is not None
    lost = False

    async def beat() -> None:
        nonlocal lost
        while True:
            await asyncio.sleep(lease_seconds / RENEWALS_PER_LEASE)
            try:
                ours = await database_work().run(
                    _renew, user_id, conversation_id, claim, key, lease_seconds
                )
            except Exception as exc:  # the database is down: try again next beat
                log.warning(
                    "could not renew a turn's lease", extra={"error_type": type(exc).__name__}
                )
                continue
            if not ours:
                log.error(
                    "a turn lost its claim on its conversation; stopping it",
                    extra={"conversation_id": conversation_id},
                )
                lost = True
                owner.cancel()
                return

    beating = asyncio.get_running_loop().create_task(beat())
    try:
        yield
    except asyncio.CancelledError:
        if lost:
            owner.uncancel()  # our own cancellation, turned into an error the turn handles
            raise ClaimLostError from None
        raise
    finally:
        beating.cancel()


class ClaimLostError(RuntimeError):
    """The turn's claim lapsed and another turn took the conversation; this one was stopped."""

    def __init__(self) -> None:
        super().__init__("The turn lost its claim on the conversation")
