"""Database optimisation (Sunday 02:00 UTC): statistics, dead rows and indexes.

Postgres: ``VACUUM (ANALYZE)`` then ``REINDEX TABLE CONCURRENTLY`` for each of flowdesk's
tables, in autocommit (neither can run inside a transaction); CONCURRENTLY, so the API
and running flows keep reading and writing while indexes are rebuilt (a plain REINDEX
holds locks that made the run wait ~9 s for the API's transactions in the test stack).
SQLite: ``ANALYZE``, ``REINDEX`` and ``VACUUM`` of the whole file, its equivalent. Each
step is timed, and the database's size before and after is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from flowdesk.db.models import Base


@dataclass
class OptimizeReport:
    """Which statements ran, how long each took, and the size before and after."""

    backend: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    size_before_bytes: int | None = None
    size_after_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "steps": self.steps,
            "size_before_bytes": self.size_before_bytes,
            "size_after_bytes": self.size_after_bytes,
        }


def flowdesk_tables() -> list[str]:
    """flowdesk's own tables (Base.metadata), in dependency order."""
    import flowdesk.db.desk  # noqa: F401  (registers the desk's tables)

    return [table.name for table in Base.metadata.sorted_tables]


async def optimize(engine: AsyncEngine) -> OptimizeReport:
    """Run the backend's maintenance statements on every flowdesk table."""
    backend = engine.dialect.name
    report = OptimizeReport(backend=backend)
    if backend == "postgresql":
        statements = [
            stmt
            for table in flowdesk_tables()
            for stmt in (f'VACUUM (ANALYZE) "{table}"', f'REINDEX TABLE CONCURRENTLY "{table}"')
        ]
        size = "SELECT pg_database_size(current_database())"
    elif backend == "sqlite":
        statements = ["ANALYZE", "REINDEX", "VACUUM"]
        size = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    else:
        raise ValueError(f"no optimisation defined for a {backend} database")
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        report.size_before_bytes = int((await conn.execute(text(size))).scalar_one())
        for statement in statements:
            started = time.perf_counter()
            await conn.execute(text(statement))
            report.steps.append(
                {"statement": statement, "seconds": round(time.perf_counter() - started, 4)}
            )
        report.size_after_bytes = int((await conn.execute(text(size))).scalar_one())
    return report
