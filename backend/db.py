"""The process's database: engines, sessions and pool settings.

`Database(settings)` is everything the process holds for its database: the engine, an autocommit
engine with a pool of its own, and the bound on concurrent database work sized to that pool
(backend/dbwork.py). The API's and the MCP server's lifespans build one from their `Settings`
with `open_database` and make it the one in use: `session_scope()`, `get_session()`,
`database_work()` and `get_engine()` take the database in use. Code that runs with no server (a
script, a unit test calling `session_scope` directly) gets a default built lazily from the
environment's settings.

SQLite (the embedded default) gets WAL and a busy timeout so the API and the MCP server, two
processes, can write the same file. PostgreSQL gets a sized pool that drops dead connections at
checkout without a round trip (`_drop_closed_connections`).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from backend.config import Settings, get_settings
from backend.datadir import private_dir, private_sqlite_file
from backend.observability.database import ObservedQueuePool, observe_engine

# Execution options for a bulk UPDATE or DELETE in a session that has loaded none of the rows it
# changes (the chat turn's short sessions). SQLAlchemy's default, "auto", evaluates the WHERE
# clause against the session's loaded objects (building the evaluator on each execution) or,
# when it cannot, fetches the matched keys: CPU on every such statement, for objects not there.
UNSYNCED: Final = {"synchronize_session": False}


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        return None
    return Path(database)


def make_engine(url: str, *, pooled: bool = True, autocommit: bool = False) -> Engine:
    """An engine for `url`; `pooled=False` for one-off work such as migrations.

    `autocommit=True`: every statement commits on its own (see `session_scope`).
    """
    mode: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        if (sqlite_file := _sqlite_file(url)) is not None:
            private_sqlite_file(sqlite_file)  # before SQLite creates it (and -wal, -shm) 0644
        in_memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")
        # A file database gets a QueuePool (SQLAlchemy's default for files) that times checkouts.
        poolclass = NullPool if not pooled else (None if in_memory else ObservedQueuePool)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **({"poolclass": poolclass} if poolclass else {}),
            **mode,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return observe_engine(engine)
    if not pooled:
        return observe_engine(create_engine(url, poolclass=NullPool, **mode))
    # The pool DESIGN.md fixes (10 kept, 20 more under a burst); a dead connection is caught at
    # checkout without the round trip of `pool_pre_ping` (see `_drop_closed_connections`).
    engine = create_engine(
        url,
        poolclass=ObservedQueuePool,
        pool_size=10,
        max_overflow=20,
        pool_recycle=1800,
        **mode,
    )
    event.listen(engine, "checkout", _drop_closed_connections)
    return observe_engine(engine)


def _drop_closed_connections(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection the server has closed; the pool then opens a fresh one.

    Instead of `pool_pre_ping` (a `SELECT 1` round trip per checkout: 4 of ~19 statements of a
    chat turn): an idle connection has nothing to read, so a readable socket means the server
    sent its goodbye (restart, `pg_terminate_backend`, idle timeout) or closed it. Raising
    DisconnectionError at checkout makes the pool discard it and try another (SQLAlchemy's
    documented hook). A connection cut without a word (a silent network drop) fails on first
    use like any network error and is replaced then; `pool_recycle` bounds its age.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed the connection")


class Database:
    """The engines and the database-work bound for one `Settings`; `dispose()` closes the pools.

    The autocommit engine has a pool of its own, so that no connection switches mode (a switch
    costs a SET statement each way). Making either engine opens no connection.
    """

    def __init__(self, settings: Settings) -> None:
        from backend.dbwork import DatabaseWork, pool_capacity  # dbwork builds on this module

        if not settings.database_url:
            private_dir(settings.data_dir)
        self.url = settings.resolved_database_url
        self.engine = make_engine(self.url)
        self.autocommit_engine = make_engine(self.url, autocommit=True)
        self.work = DatabaseWork(pool_capacity(self.engine), settings.db_queue_timeout_seconds)

    def dispose(self) -> None:
        self.work.close()
        self.engine.dispose()
        self.autocommit_engine.dispose()


_in_use: list[Database] = []  # of the `use_database` blocks open now, the innermost last
_default: Database | None = None
_default_lock = threading.Lock()


@contextmanager
def use_database(database: Database) -> Iterator[Database]:
    """Make `database` the one in use until the block ends; the one before comes back after.

    A process-wide choice, not a context variable: a server's requests run in tasks and threads
    that its lifespan did not start. A process serves one database at a time.
    """
    _in_use.append(database)
    try:
        yield database
    finally:
        _in_use.remove(database)


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """A server's database for its lifetime: built from `settings`, in use, disposed at the end."""
    database = Database(settings)
    try:
        with use_database(database):
            yield database
    finally:
        database.dispose()


def current_database() -> Database:
    """The database in use: the running server's, else the default from the environment.

    The default is built on first use from `get_settings()`, for code that runs with no server
    (a script, a unit test calling `session_scope` directly); `forget_default_database` drops it.
    """
    global _default
    if innermost := _in_use[-1:]:  # one step: a server on another thread may be stopping
        return innermost[0]
    if (default := _default) is not None:
        return default
    with _default_lock:
        if _default is None:
            _default = Database(get_settings())
        return _default


def forget_default_database() -> None:
    """Dispose of the default database; the next use builds it from the settings of then."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.dispose()
        _default = None


def get_engine(*, autocommit: bool = False) -> Engine:
    """The engine of the database in use (`current_database`)."""
    database = current_database()
    return database.autocommit_engine if autocommit else database.engine


@contextmanager
def session_scope(*, autocommit: bool = False) -> Iterator[Session]:
    """A short transaction for code outside a request (MCP tools, the chat turn, the CLI).

    `autocommit=True` for work that writes at most once (each MCP tool): every statement
    commits on its own, which spares the BEGIN and COMMIT round trips (3 statements become 1
    for adding a task). A read before that one write sees what a transaction's would under
    PostgreSQL's default READ COMMITTED; none of it takes locks.

    On the database in use: the running server's, else the default from the environment.
    """
    with Session(get_engine(autocommit=autocommit), expire_on_commit=False) as session:
        yield session


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request, on the database in use (the app's)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session
