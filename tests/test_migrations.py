"""Migrations and models agree, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import backend.models  # noqa: F401


def test_migrations_match_models(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_every_foreign_key_is_indexed(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    inspector = sa.inspect(engine)
    for table in inspector.get_table_names():
        indexed = {tuple(index["column_names"][:1]) for index in inspector.get_indexes(table)}
        for foreign_key in inspector.get_foreign_keys(table):
            assert tuple(foreign_key["constrained_columns"][:1]) in indexed, (table, foreign_key)
    engine.dispose()


def test_deleting_a_conversation_deletes_its_messages(database_url):
    from sqlmodel import Session, select

    from backend.db import make_engine
    from backend.models import Conversation, Message

    engine = make_engine(database_url)
    with Session(engine) as session:
        conversation = Conversation(user_id="u1", title="t")
        session.add(conversation)
        session.commit()
        session.add(
            Message(conversation_id=conversation.id, user_id="u1", role="user", content="hi")
        )
        session.commit()
        session.delete(conversation)
        session.commit()
        assert session.exec(select(Message)).all() == []
    engine.dispose()
