"""Apply Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from backend.config import get_settings
from backend.datadir import private_dir

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
