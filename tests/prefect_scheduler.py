"""Prefect's scheduler pass, split in two, against the test stack's Prefect database.

Prefect's scheduler service reads a deployment's schedules and generates its runs in one
transaction, then inserts them in another (prefect/server/services/scheduler.py). An
edit that commits between the two leaves runs of the old definition behind. The tests
call the scheduler's own two steps on either side of an edit to reproduce that pass
exactly, instead of waiting for the race to happen by chance.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.server import models
from prefect.server.database import PrefectDBInterface
from prefect.server.database.dependencies import MODELS_DEPENDENCIES, provide_database_interface
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings


@contextmanager
def prefect_database(connection_url: str) -> Iterator[PrefectDBInterface]:
    """Prefect's database interface for `connection_url`, restoring the previous one after."""
    saved = dict(MODELS_DEPENDENCIES)
    MODELS_DEPENDENCIES.update(dict.fromkeys(saved))
    try:
        with temporary_settings({PREFECT_API_DATABASE_CONNECTION_URL: connection_url}):
            yield provide_database_interface()
    finally:
        MODELS_DEPENDENCIES.update(saved)


async def generate_runs(connection_url: str, deployment_id: uuid.UUID) -> list[dict[str, Any]]:
    """The scheduler's first step: read the schedules and generate the next runs."""
    with prefect_database(connection_url) as db:
        async with db.session_context() as session:
            now = datetime.now(UTC)
            runs: list[dict[str, Any]] = await models.deployments._generate_scheduled_flow_runs(
                db,
                session=session,
                deployment_id=deployment_id,
                start_time=now,
                end_time=now + timedelta(days=100),
                min_time=timedelta(hours=1),
                min_runs=3,
                max_runs=5,
            )
    return runs


async def insert_runs(connection_url: str, runs: list[dict[str, Any]]) -> list[uuid.UUID]:
    """The scheduler's second step: insert what the first step generated."""
    with prefect_database(connection_url) as db:
        async with db.session_context(begin_transaction=True) as session:
            inserted = await models.deployments._insert_scheduled_flow_runs(
                session=session, runs=runs
            )
    return list(inserted)
