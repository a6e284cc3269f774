"""Test databases: a SQLite file per test, and one real PostgreSQL database per test session.

PostgreSQL comes from TEST_DATABASE_URL when set (CI points it at the machine's server), else
from `pgserver`, a PostgreSQL in a pip wheel, so a fresh machine needs nothing but Python.
Each pytest session creates its own database on that server, so parallel runs never collide.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

TABLES = ["message", "conversation", "idempotent_request", "task"]


def _driver_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield _driver_url(configured)
        return
    import pgserver  # dev extra

    data = tempfile.mkdtemp(prefix="todo-agent-pg-")
    server = pgserver.get_server(data, cleanup_mode="delete")
    try:
        yield _driver_url(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
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
