"""Direct tests of the services under the routes: a database session, no app, no processes.

Every test runs on SQLite and on PostgreSQL (conftest's `database_url`), migrated and empty.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from backend.db import make_engine


@pytest.fixture
def session(database_url: str, request: pytest.FixtureRequest) -> Iterator[Session]:
    # The app's own engine setup (SQLite foreign keys on), so ON DELETE CASCADE behaves the same.
    # Parametrized indirectly with True: an autocommit session (each statement commits alone).
    autocommit = bool(getattr(request, "param", False))
    engine = make_engine(database_url, pooled=False, autocommit=autocommit)
    with Session(engine) as opened:
        yield opened
    engine.dispose()
