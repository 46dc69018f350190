"""Every query on the runs table. Functions flush; the caller's unit of work commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from flowdesk.db.models import JobType, Run, RunStatus, User
from flowdesk.db.types import utcnow
from flowdesk.metrics import record_job
from flowdesk.runs.statistics import RunTimes

_OPEN = (RunStatus.PENDING, RunStatus.RUNNING)

# What a run listing shows: everything but the snapshot, result and artifacts, which
# can be large (a snapshot of us_large_caps holds 500 tickers).
_SUMMARY_COLUMNS = (
    Run.id,
    Run.owner_id,
    Run.job_type,
    Run.target,
    Run.status,
    Run.priority,
    Run.error,
    Run.reason,
    Run.prefect_flow_run_id,
    Run.prefect_deployment,
    Run.schedule_id,
    Run.scheduled_for,
    Run.rerun_of,
    Run.created_at,
    Run.started_at,
    Run.finished_at,
)


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing shows; None (or empty) leaves that criterion out."""

    owner_id: uuid.UUID | None = None
    owner_name: str | None = None
    statuses: tuple[RunStatus, ...] = ()
    job_type: JobType | None = None
    schedule_id: uuid.UUID | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    # Conditions of a special listing (the dead letters' requeued filter).
    extra: tuple[ColumnElement[bool], ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = list(self.extra)
        if self.owner_id is not None:
            conditions.append(Run.owner_id == self.owner_id)
        if self.owner_name is not None:
            conditions.append(User.name == self.owner_name)
        if self.statuses:
            conditions.append(Run.status.in_(self.statuses))
        if self.job_type is not None:
            conditions.append(Run.job_type == self.job_type)
        if self.schedule_id is not None:
            conditions.append(Run.schedule_id == self.schedule_id)
        if self.since is not None:
            conditions.append(Run.created_at >= self.since)
        if self.until is not None:
            conditions.append(Run.created_at < self.until)
        return conditions


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
) -> RunStatus | None:
    """Record the run's flow run; the run's status then (None if the row is gone)."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(prefect_flow_run_id=flow_run_id, prefect_deployment=deployment, updated_at=utcnow())
        .returning(Run.status)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def status_of(session: AsyncSession, run_id: uuid.UUID) -> RunStatus | None:
    result = await session.execute(select(Run.status).where(Run.id == run_id))
    return result.scalar_one_or_none()


async def flow_run_of(session: AsyncSession, run_id: uuid.UUID) -> uuid.UUID | None:
    """The run's flow run id as stored now (not as a loaded object remembers it)."""
    result = await session.execute(select(Run.prefect_flow_run_id).where(Run.id == run_id))
    return result.scalar_one_or_none()


async def delete_if_pending(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """Remove a run nobody has claimed (its submission failed); False if it was claimed."""
    result = await session.execute(
        delete(Run).where(Run.id == run_id, Run.status == RunStatus.PENDING)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim(session: AsyncSession, run_id: uuid.UUID, flow_run_id: uuid.UUID) -> Run | None:
    """Atomically move a pending run to running for this flow run; None if not pending.

    A run this same flow run already claimed is claimed again: a stopping worker handed
    the flow run back to Prefect (AwaitingRetry) and another worker now executes it.
    """
    now = utcnow()
    mine = (Run.status == RunStatus.RUNNING) & (Run.prefect_flow_run_id == flow_run_id)
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, (Run.status == RunStatus.PENDING) | mine)
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
    run_id: uuid.UUID | None,
    status: RunStatus,
    *,
    error: str | None = None,
    flow_run_id: uuid.UUID | None = None,
) -> bool:
    """Move an open run to a terminal status once; False if it was already finished.

    With `flow_run_id`, only the flow run that owns the row may finish it, so a duplicate
    flow run that lost the claim cannot overwrite the outcome; with `run_id` None, the
    row is found by that flow run alone (a schedule's tick has no run id parameter).
    The run is counted in flowdesk_jobs_total (and its duration and error metrics) in
    the same transaction, by the one call that finished it.
    """
    assert status.is_terminal
    assert run_id is not None or flow_run_id is not None
    now = utcnow()
    conditions: list[ColumnElement[bool]] = [Run.status.in_(_OPEN)]
    if run_id is not None:
        conditions.append(Run.id == run_id)
    if flow_run_id is not None:
        conditions.append(Run.prefect_flow_run_id == flow_run_id)
    values: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now}
    if error is not None:
        values["error"] = error
    result = await session.execute(
        update(Run)
        .where(*conditions)
        .values(**values)
        .returning(Run.job_type, Run.started_at)
        .execution_options(synchronize_session=False)
    )
    finished = result.all()
    # Counted in this transaction, so only the call that moved the row counts it.
    for job_type, started_at in finished:
        seconds = None if started_at is None else (now - started_at).total_seconds()
        await record_job(session, job_type.value, status.value, seconds)
    return bool(finished)


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
    return [(status, job_type, count) for status, job_type, count in result]


async def list_page(
    session: AsyncSession, where: RunFilter, *, limit: int, offset: int
) -> list[tuple[Run, str]]:
    """One page of runs, newest first, each with its owner's name; no snapshot or result.

    The other columns are not loaded, and touching one raises instead of querying again.
    """
    result = await session.execute(
        select(Run, User.name)
        .join(User, User.id == Run.owner_id)
        .options(load_only(*_SUMMARY_COLUMNS, raiseload=True))
        .where(*where.conditions())
        # The id breaks ties between runs created in the same microsecond, so pages
        # neither repeat nor skip a run.
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(run, name) for run, name in result]


async def count(session: AsyncSession, where: RunFilter) -> int:
    """How many runs the filter matches, over all pages."""
    query = select(func.count()).select_from(Run)
    if where.owner_name is not None:
        query = query.join(User, User.id == Run.owner_id)
    result = await session.execute(query.where(*where.conditions()))
    return int(result.scalar_one())


async def started_times(
    session: AsyncSession, since: datetime, owner_id: uuid.UUID | None = None
) -> list[RunTimes]:
    """The timestamps of every run created since `since` that started (for statistics).

    Timestamps, not SQL differences, so the query is the same on Postgres and SQLite.
    """
    query = select(
        Run.job_type, Run.created_at, Run.scheduled_for, Run.started_at, Run.finished_at
    ).where(Run.created_at >= since, Run.started_at.is_not(None))
    if owner_id is not None:
        query = query.where(Run.owner_id == owner_id)
    result = await session.execute(query)
    times = []
    for job_type, created_at, scheduled_for, started_at, finished_at in result:
        assert started_at is not None  # the query takes started runs only
        times.append(RunTimes(job_type, created_at, scheduled_for, started_at, finished_at))
    return times


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
