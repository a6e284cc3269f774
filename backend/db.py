"""Engine, sessions and pool settings.

SQLite (the embedded default) gets WAL and a busy timeout so the API and the MCP server, two
processes, can write the same file. PostgreSQL gets a sized pool with pre-ping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from backend.config import get_settings
from backend.datadir import private_dir, private_sqlite_file
from backend.observability.database import ObservedQueuePool, observe_engine


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        return None
    return Path(database)


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    """An engine for `url`; `pooled=False` for one-off work such as migrations."""
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
        return observe_engine(create_engine(url, poolclass=NullPool))
    return observe_engine(
        create_engine(
            url,
            poolclass=ObservedQueuePool,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    )


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    if not settings.database_url:
        private_dir(settings.data_dir)
    return make_engine(settings.resolved_database_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A short transaction for code outside a request (MCP tools, the chat turn, the CLI)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session
