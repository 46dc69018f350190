"""The migrations build exactly the tables the models describe, on SQLite and Postgres."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import flowdesk.db.desk  # noqa: F401  (registers the desk's tables on Base.metadata)
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import Base


class TestMigrations:
    def test_head_matches_the_models(self, fresh_database_url: str) -> None:
        upgrade(fresh_database_url)
        engine = create_engine(fresh_database_url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()

    def test_upgrade_twice_is_a_no_op(self, fresh_database_url: str) -> None:
        upgrade(fresh_database_url)
        upgrade(fresh_database_url)
