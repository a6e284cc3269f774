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
import contextvars
import functools
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

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
    """Runs blocking database work for the event loop, bounded by the pool's capacity.

    On a thread pool of its own with the event loop's executor interface: anyio's `to_thread`
    (a limiter, a cancel scope and a hand-off queue per call) cost about twice the CPU of this
    per unit, and a chat turn has four units.
    """

    def __init__(self, slots: int, queue_timeout: float) -> None:
        self.slots, self.queue_timeout = slots, queue_timeout
        self._threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="database-work")
        # A semaphore belongs to one event loop; tests (and TestClient) run several.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _for_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.slots)
        return slots

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(*args, **kwargs)` on a database thread; DatabaseBusyError if none frees up."""
        slots = self._for_loop()
        if slots.locked():  # else `acquire` returns at once: no timer to set up
            try:
                async with asyncio.timeout(self.queue_timeout):
                    await slots.acquire()
            except TimeoutError:
                raise DatabaseBusyError from None
        else:
            await slots.acquire()
        try:
            # The caller's context goes along (the request id in logs, the current trace span).
            call = functools.partial(contextvars.copy_context().run, work, *args, **kwargs)
            running = asyncio.get_running_loop().run_in_executor(self._threads, call)
            return await _finished(running)
        finally:
            slots.release()

    def close(self) -> None:
        """Let the threads go once their work is done (the database is being disposed of)."""
        self._threads.shutdown(wait=False)


async def _finished(running: asyncio.Future[T]) -> T:
    """The result of `running`, waited for even if the caller is cancelled meanwhile.

    Not cancellable once started: the work finishes (and commits or rolls back) even if the
    client goes away, so what is stored matches what would have been answered; the
    cancellation is passed on after.
    """
    cancelled = False
    while not running.done():
        try:
            await asyncio.wait([running])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return running.result()


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
