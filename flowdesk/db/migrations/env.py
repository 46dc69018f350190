"""Alembic environment: runs on the connection `flowdesk.db.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import flowdesk.db.desk  # noqa: F401  (registers the desk's tables on Base.metadata)
from flowdesk.db.models import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # ALTERs on SQLite go through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
