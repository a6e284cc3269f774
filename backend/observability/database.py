"""The database pool in metrics, and SQL statements in traces.

`ObservedQueuePool` is SQLAlchemy's QueuePool timing each checkout: a checkout that takes more
than a fraction of a millisecond waited for a connection (or opened one). `observe_engine` keeps
the in-use and overflow gauges current from pool events and, when tracing is on, gives every
statement a span (OpenTelemetry's SQLAlchemy instrumentation: the statement with its `?` / `%s`
placeholders, never the values bound to them).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from backend.observability import tracing
from backend.observability.metrics import (
    DB_POOL_CHECKOUT,
    DB_POOL_IN_USE,
    DB_POOL_OVERFLOW,
    DB_POOL_TIMEOUTS,
    metrics_enabled,
)


class ObservedQueuePool(QueuePool):
    """A QueuePool that reports how long each checkout took, and the ones that timed out."""

    def connect(self) -> PoolProxiedConnection:
        if not metrics_enabled():
            return super().connect()
        started = time.perf_counter()
        try:
            connection = super().connect()
        except PoolTimeoutError:
            DB_POOL_TIMEOUTS.inc()
            raise
        DB_POOL_CHECKOUT.observe(time.perf_counter() - started)
        return connection


def _update_gauges(pool: Any, returning: int = 0) -> None:
    if isinstance(pool, QueuePool):
        DB_POOL_IN_USE.set(pool.checkedout() - returning)
        DB_POOL_OVERFLOW.set(max(0, pool.overflow()))


def observe_engine(engine: Engine) -> Engine:
    """Pool gauges (metrics on) and statement spans (tracing on) for `engine`; returns it."""
    if metrics_enabled():

        @event.listens_for(engine, "checkout")
        def _checked_out(*_: object) -> None:
            _update_gauges(engine.pool)

        @event.listens_for(engine, "checkin")
        def _checked_in(*_: object) -> None:
            # Fired before the pool takes the connection back: it still counts as checked out.
            _update_gauges(engine.pool, returning=1)

    if tracing.tracing_enabled():
        tracing.trace_engine(engine)
    return engine
