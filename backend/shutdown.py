"""Stopping without losing turns: what the app's lifespan does after SIGTERM.

uvicorn stops accepting connections and waits up to `SHUTDOWN_GRACE_SECONDS` for the open ones,
so a turn whose client is still connected finishes and answers. A turn whose client went away
has no connection to wait for: it runs in a task of its own (backend/chat/turn.py), and without
this it was cancelled the moment the last connection closed. So the lifespan's shutdown waits
for every running turn, up to the same grace period; a turn still running then is cancelled,
which stores what it did (its tool calls, a reply that says it was cut off) and logs it.
"""

from __future__ import annotations

import asyncio
import logging

from backend.chat.turn import TurnRun

log = logging.getLogger("backend.shutdown")

RECORD_SECONDS = 5.0  # for a cancelled turn to write down what it did


async def drain_turns(grace_seconds: float) -> None:
    running = TurnRun.running()
    if not running:
        return
    log.info(
        "waiting for running chat turns before stopping",
        extra={"turns": len(running), "grace_seconds": grace_seconds},
    )
    _, pending = await asyncio.wait(running, timeout=grace_seconds)
    if not pending:
        log.info("all chat turns finished")
        return
    log.warning(
        "chat turns still running after the grace period; cutting them off",
        extra={"turns": len(pending)},
    )
    for task in pending:
        task.cancel()
    await asyncio.wait(pending, timeout=RECORD_SECONDS)
