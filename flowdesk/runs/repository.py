"""Every query on the runs table. Functions flush; the caller's unit of work commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import JobType, Run, RunStatus
from flowdesk.db.types import utcnow

_OPEN = (RunStatus.PENDING, RunStatus.RUNNING)


async def add(session: AsyncSession, run: Run) -> Run:
    session.add(run)
    await session.flush()
    return run


async def get(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    return await session.get(Run, run_id, populate_existing=True)


async def get_by_idempotency_key(
    session: AsyncSession, owner_id: uuid.UUID, key: str
) -> Run | None:
    result = await session.execute(
        select(Run).where(Run.owner_id == owner_id, Run.idempotency_key == key)
    )
    return result.scalar_one_or_none()


async def set_flow_run(
    session: AsyncSession, run_id: uuid.UUID, flow_run_id: uuid.UUID, deployment: str
) -> None:
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(prefect_flow_run_id=flow_run_id, prefect_deployment=deployment, updated_at=utcnow())
    )


async def delete_if_pending(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """Remove a run nobody has claimed (its submission failed); False if it was claimed."""
    result = await session.execute(
        delete(Run).where(Run.id == run_id, Run.status == RunStatus.PENDING)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim(session: AsyncSession, run_id: uuid.UUID, flow_run_id: uuid.UUID) -> Run | None:
    """Atomically move a pending run to running for this flow run; None if not pending."""
    now = utcnow()
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.PENDING)
        .values(
            status=RunStatus.RUNNING,
            started_at=now,
            updated_at=now,
            prefect_flow_run_id=flow_run_id,
        )
        .returning(Run)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def record_result(
    session: AsyncSession,
    run_id: uuid.UUID,
    result: dict[str, Any],
    artifacts: list[dict[str, Any]],
) -> None:
    """Store what a running run produced; its final status comes from its state hook."""
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(result=result, artifacts=artifacts, updated_at=utcnow())
    )


async def finish(
    session: AsyncSession,
    run_id: uuid.UUID,
    status: RunStatus,
    *,
    error: str | None = None,
    flow_run_id: uuid.UUID | None = None,
) -> bool:
    """Move an open run to a terminal status once; False if it was already finished.

    With `flow_run_id`, only the flow run that owns the row may finish it, so a duplicate
    flow run that lost the claim cannot overwrite the outcome.
    """
    assert status.is_terminal
    now = utcnow()
    conditions = [Run.id == run_id, Run.status.in_(_OPEN)]
    if flow_run_id is not None:
        conditions.append(Run.prefect_flow_run_id == flow_run_id)
    values: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now}
    if error is not None:
        values["error"] = error
    result = await session.execute(
        update(Run).where(*conditions).values(**values).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def counts_by_status_and_type(
    session: AsyncSession, since: datetime, owner_id: uuid.UUID | None = None
) -> list[tuple[RunStatus, JobType, int]]:
    query = (
        select(Run.status, Run.job_type, func.count())
        .where(Run.created_at >= since)
        .group_by(Run.status, Run.job_type)
    )
    if owner_id is not None:
        query = query.where(Run.owner_id == owner_id)
    result = await session.execute(query)
    return [(status, job_type, count) for status, job_type, count in result.tuples()]


async def recent_failures(session: AsyncSession, since: datetime, limit: int) -> list[Run]:
    result = await session.execute(
        select(Run)
        .where(
            Run.created_at >= since,
            Run.status.in_((RunStatus.FAILED, RunStatus.CRASHED)),
        )
        .order_by(Run.finished_at.desc())
        .limit(limit)
    )
    return list(result.scalars())


async def count_all(session: AsyncSession) -> int:
    result = await session.execute(select(func.count()).select_from(Run))
    return int(result.scalar_one())


async def pending_without_flow_run(
    session: AsyncSession, older_than: datetime, limit: int
) -> list[Run]:
    """Pending runs whose flow run was never created (the submitter died mid-way)."""
    result = await session.execute(
        select(Run)
        .where(
            Run.status == RunStatus.PENDING,
            Run.prefect_flow_run_id.is_(None),
            Run.schedule_id.is_(None),
            Run.created_at < older_than,
        )
        .order_by(Run.created_at)
        .limit(limit)
    )
    return list(result.scalars())


async def open_with_flow_run(session: AsyncSession, older_than: datetime, limit: int) -> list[Run]:
    """Open runs whose Prefect state may have moved on without a hook telling us."""
    result = await session.execute(
        select(Run)
        .where(
            Run.status.in_(_OPEN),
            Run.prefect_flow_run_id.is_not(None),
            Run.updated_at < older_than,
        )
        .order_by(Run.updated_at)
        .limit(limit)
    )
    return list(result.scalars())
