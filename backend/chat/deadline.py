"""The turn deadline (`TURN_TIMEOUT_SECONDS`), visible to everything the turn runs.

The turn sets it once; the model's HTTP calls read it to shorten their timeout and to decide
whether a provider's `Retry-After` still fits. A context variable follows the turn into the
tasks the Agents SDK starts, and never leaks into another request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("turn_deadline", default=None)


def remaining() -> float | None:
    """Seconds left in this turn (None outside a turn)."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - asyncio.get_running_loop().time()


@asynccontextmanager
async def turn_deadline(seconds: float) -> AsyncIterator[None]:
    """Bound everything inside to `seconds` (raises TimeoutError), and publish the deadline."""
    loop = asyncio.get_running_loop()
    token = _deadline.set(loop.time() + seconds)
    try:
        async with asyncio.timeout(seconds):
            yield
    finally:
        _deadline.reset(token)
