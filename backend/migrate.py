"""Apply Alembic migrations programmatically (no alembic.ini needed), and check the schema.

The API and the MCP server do not migrate by themselves (several replicas would race, and a
schema change belongs before a rollout): they check at start-up that the database is at this
version's revision and refuse to start otherwise, naming `todo-agent migrate`. `serve`, the
one-machine command, migrates first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from backend.config import ConfigError, get_settings
from backend.datadir import private_dir

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATE_HINT = "run `todo-agent migrate` (with the same DATABASE_URL) first"

SchemaStatus = Literal["current", "not migrated", "behind", "newer than this version"]


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option(
        "sqlalchemy.url", (url or get_settings().resolved_database_url).replace("%", "%%")
    )
    return config


def upgrade(url: str | None = None) -> None:
    settings = get_settings()
    target = url or settings.resolved_database_url
    if target.startswith("sqlite") and url is None:
        private_dir(settings.data_dir)
    command.upgrade(alembic_config(target), "head")


@lru_cache(maxsize=1)
def _code_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(the head revisions this code needs, every revision it knows)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return frozenset(script.get_heads()), known


@dataclass(frozen=True)
class SchemaState:
    status: SchemaStatus
    database: tuple[str, ...]  # the revisions recorded in the database (none: never migrated)
    code: tuple[str, ...]  # the head revisions this version of the code needs

    @property
    def current(self) -> bool:
        return self.status == "current"

    def problem(self) -> str:
        """One line for a person: what is wrong and what to run."""
        found = ", ".join(self.database) or "none"
        needed = ", ".join(self.code)
        if self.status == "not migrated":
            return f"the database has no schema yet (revision none, needs {needed}); {MIGRATE_HINT}"
        if self.status == "behind":
            return f"the database schema is at revision {found}, this version needs {needed}; " + (
                MIGRATE_HINT
            )
        if self.status == "newer than this version":
            return (
                f"the database schema is at revision {found}, which this version of todo-agent "
                f"does not know (it needs {needed}); upgrade todo-agent, or restore a backup"
            )
        return f"the database schema is current (revision {found})"


def schema_state(connection: Connection) -> SchemaState:
    """Where the database's schema is relative to this code's migrations."""
    heads, known = _code_revisions()
    recorded = frozenset(MigrationContext.configure(connection).get_current_heads())
    status: SchemaStatus
    if recorded == heads:
        status = "current"
    elif not recorded:
        status = "not migrated"
    elif recorded <= known:
        status = "behind"
    else:
        status = "newer than this version"
    return SchemaState(status, tuple(sorted(recorded)), tuple(sorted(heads)))


def require_current_schema(url: str | None = None) -> SchemaState:
    """Start-up check of the servers: raises ConfigError (one line) unless the schema is current.

    A database that cannot be reached raises SQLAlchemy's OperationalError; the command line
    turns that into its own one-line message.
    """
    from sqlalchemy.engine import make_url

    from backend.db import make_engine

    target = url or get_settings().resolved_database_url
    parsed = make_url(target)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():  # connecting would create an empty file
            state = SchemaState("not migrated", (), tuple(sorted(_code_revisions()[0])))
            raise ConfigError(state.problem())
    engine = make_engine(target, pooled=False)
    try:
        with engine.connect() as connection:
            state = schema_state(connection)
    finally:
        engine.dispose()
    if not state.current:
        raise ConfigError(state.problem())
    return state


def database_checks() -> dict[str, str]:
    """For /ready: the database answers, and its schema is the one this code needs."""
    from sqlalchemy import text

    from backend.db import get_engine

    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            return {"database": "ok", "schema": schema_state(connection).status}
    except Exception:
        return {"database": "unavailable", "schema": "unknown"}
