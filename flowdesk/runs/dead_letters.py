"""Queries for dead letters: runs that failed on every retry of a dependency."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from flowdesk.db.models import Run

REQUEUE_KEY_PREFIX = "requeue:"


def requeue_key(run_id: uuid.UUID) -> str:
    """The idempotency key of a dead letter's requeue: at most one requeue per dead letter."""
    return f"{REQUEUE_KEY_PREFIX}{run_id}"


async def requeues_of(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Run]:
    """The requeued run of each dead letter that has one."""
    if not run_ids:
        return {}
    result = await session.execute(
        select(Run).where(
            Run.rerun_of.in_(run_ids), Run.idempotency_key.startswith(REQUEUE_KEY_PREFIX)
        )
    )
    return {run.rerun_of: run for run in result.scalars() if run.rerun_of is not None}


def requeued(is_requeued: bool) -> ColumnElement[bool]:
    """A listing condition: the dead letter has (or has not) been requeued."""
    requeue = aliased(Run)
    has_requeue = exists().where(
        requeue.rerun_of == Run.id, requeue.idempotency_key.startswith(REQUEUE_KEY_PREFIX)
    )
    return has_requeue if is_requeued else ~has_requeue
