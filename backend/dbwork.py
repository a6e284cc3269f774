"""Database work from async code: on worker threads of its own, never more than the pool holds.

Why: a sync FastAPI route runs on one of anyio's 40 shared worker threads and keeps its session
(so its pooled connection) until the response is validated, which for a sync route waits for
another of those threads. Under a burst every thread held or waited for a connection and only
the pool timeout broke the deadlock, in waves of 500s (issue 16). Here instead:

- each unit of work opens a session, does its queries, turns rows into plain response models
  and closes the session, all on the worker thread: the connection is back in the pool before
  anything is serialised;
- at most `slots` units run at once, as many as the pool has connections, on threads that
  nothing else uses, so a unit that got a slot gets a connection without waiting;
- waiting for a slot is bounded: after `queue_timeout` seconds the caller gets
  `DatabaseBusyError` (a 503 with Retry-After), before any of its work ran, so nothing is
  stored for a request that is answered as an error.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.db import current_database, session_scope

P = ParamSpec("P")
T = TypeVar("T")

RETRY_AFTER_SECONDS = 1


class DatabaseBusyError(RuntimeError):
    """Every database slot stayed busy for the whole queue timeout; nothing was done."""

    retry_after = RETRY_AFTER_SECONDS

    def __init__(self) -> None:
        super().__init__("The database is busy; try again shortly")


def pool_capacity(engine: Engine) -> int:
    """Connections the engine's pool can hand out at once (size + overflow)."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size):
        return max(1, int(size()) + max(0, int(overflow)))
    return 5  # NullPool / StaticPool: no fixed size; a modest bound


class DatabaseWork:
    """Runs blocking database work for the event loop, bounded by the pool's capacity."""

    def __init__(self, slots: int, queue_timeout: float) -> None:
        self.slots, self.queue_timeout = slots, queue_timeout
        # anyio limiters belong to one event loop; tests (and TestClient) run several.
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]
        ] = weakref.WeakKeyDictionary()

    def _for_loop(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        loop = asyncio.get_running_loop()
        limiters = self._limiters.get(loop)
        if limiters is None:
            # One to queue for a slot (with a timeout), one for the threads themselves.
            limiters = (anyio.CapacityLimiter(self.slots), anyio.CapacityLimiter(self.slots))
            self._limiters[loop] = limiters
        return limiters

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(*args, **kwargs)` on a database thread; DatabaseBusyError if none frees up."""
        slots, threads = self._for_loop()
        try:
            with anyio.fail_after(self.queue_timeout):
                await slots.acquire()
        except TimeoutError:
            raise DatabaseBusyError from None
        try:
            # Not cancellable once started: the work finishes (and commits or rolls back) even
            # if the client goes away, so what is stored matches what would have been answered.
            return await anyio.to_thread.run_sync(lambda: work(*args, **kwargs), limiter=threads)
        finally:
            slots.release()

    def in_use(self) -> int:
        """Slots taken right now in the running loop (for tests and metrics)."""
        slots, _ = self._for_loop()
        return int(slots.borrowed_tokens)


def database_work() -> DatabaseWork:
    """The bound of the database in use (`backend.db.current_database`), sized to its pool."""
    return current_database().work


async def in_session(work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a short session of its own on a database thread.

    `work` returns plain values (response models, not ORM rows): the session is closed, and
    its connection back in the pool, before the caller sees the result.
    """

    def unit() -> T:
        with session_scope() as session:
            return work(session)

    return await database_work().run(unit)
