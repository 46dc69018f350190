"""The migrations build exactly the tables the models describe, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from flowdesk.db.migrate import upgrade
from flowdesk.db.models import Base
from tests import services


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flowdesk.db'}"
        return
    services.require_postgres()
    name = services.create_database("flowdesk_migrations")
    try:
        yield services.sqlalchemy_url(name)
    finally:
        services.drop_database(name)


class TestMigrations:
    def test_head_matches_the_models(self, database_url: str) -> None:
        upgrade(database_url)
        engine = create_engine(database_url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()

    def test_upgrade_twice_is_a_no_op(self, database_url: str) -> None:
        upgrade(database_url)
        upgrade(database_url)
