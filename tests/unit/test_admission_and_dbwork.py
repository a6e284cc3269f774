"""The bounds behind "one user cannot stall the API": database slots, per-user admission."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from backend.admission import UserSlots
from backend.dbwork import DatabaseBusyError, DatabaseWork
from backend.errors import problem_for


def test_database_work_never_runs_more_units_than_slots() -> None:
    work = DatabaseWork(slots=3, queue_timeout=30)
    running, most = 0, 0
    lock = threading.Lock()

    def unit() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def burst() -> None:
        await asyncio.gather(*(work.run(unit) for _ in range(30)))

    asyncio.run(burst())
    assert most == 3


def test_database_work_refuses_when_no_slot_frees_up_and_runs_nothing() -> None:
    work = DatabaseWork(slots=1, queue_timeout=0.2)
    release = threading.Event()
    ran: list[str] = []

    async def scenario() -> None:
        holder = asyncio.create_task(work.run(release.wait, 10))
        await asyncio.sleep(0.05)
        with pytest.raises(DatabaseBusyError):
            await work.run(lambda: ran.append("late"))
        release.set()
        await holder
        await work.run(lambda: ran.append("after"))  # a freed slot serves again

    asyncio.run(scenario())
    assert ran == ["after"]


def test_started_database_work_finishes_before_its_cancelled_caller_moves_on() -> None:
    work = DatabaseWork(slots=1, queue_timeout=5)
    started, release = threading.Event(), threading.Event()
    done: list[str] = []

    def unit() -> None:
        started.set()
        release.wait(5)
        done.append("unit")

    async def scenario() -> None:
        caller = asyncio.create_task(work.run(unit))
        assert await asyncio.to_thread(started.wait, 5)
        caller.cancel()
        await asyncio.sleep(0.05)
        assert not caller.done()  # it waits for the unit (which commits or rolls back) first
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert done == ["unit"]
        await work.run(lambda: done.append("next"))  # and gave its slot back

    asyncio.run(scenario())
    assert done == ["unit", "next"]


def test_database_work_sees_the_callers_context() -> None:
    # The request id of the log lines and the current trace span are context variables.
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    work = DatabaseWork(slots=2, queue_timeout=5)

    async def scenario() -> str:
        request_id.set("r-1")
        return await work.run(request_id.get)

    assert asyncio.run(scenario()) == "r-1"


@pytest.mark.parametrize("error", [DatabaseBusyError(), PoolTimeoutError("pool exhausted")])
def test_a_busy_database_is_a_503_with_retry_after(error: Exception) -> None:
    problem = problem_for(error)
    assert problem.status == 503 and problem.headers["Retry-After"] == "1"
    assert "pool" not in problem.detail


def test_one_user_gets_limited_slots_others_are_not_affected() -> None:
    slots = UserSlots(limit=2, wait=0.2)

    async def scenario() -> tuple[list[bool], bool]:
        first = [await slots.enter("burster") for _ in range(2)]
        refused = await slots.enter("burster")  # waits 0.2 s, nobody leaves
        other = await slots.enter("bystander")
        slots.leave("bystander")
        slots.leave("burster")
        again = await slots.enter("burster")  # a slot freed up
        return [*first, refused, other], again

    admitted, again = asyncio.run(scenario())
    assert admitted == [True, True, False, True] and again


def test_a_waiting_request_is_admitted_when_one_finishes() -> None:
    slots = UserSlots(limit=1, wait=5)

    async def scenario() -> bool:
        assert await slots.enter("u")
        waiting = asyncio.create_task(slots.enter("u"))
        await asyncio.sleep(0.05)
        slots.leave("u")
        admitted = await waiting
        slots.leave("u")
        return admitted

    assert asyncio.run(scenario())
