"""Gathering the facts of a `system_status` report from the snapshot store and Prefect."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateName,
    WorkQueueFilter,
    WorkQueueFilterName,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.types import utcnow
from flowdesk.reports.registry import SystemStatusParams
from flowdesk.reports.system_status import (
    DatabaseInfo,
    FailedRun,
    PoolHealth,
    QueueHealth,
    RunCount,
    SystemStatus,
    WorkerHealth,
)
from flowdesk.runs import repository


async def database_info(session: AsyncSession, database_url: str) -> DatabaseInfo:
    runs_total = await repository.count_all(session)
    if session.get_bind().dialect.name == "postgresql":
        size = await session.scalar(text("SELECT pg_database_size(current_database())"))
        return DatabaseInfo(backend="postgresql", size_bytes=int(size or 0), runs_total=runs_total)
    database = make_url(database_url).database
    files = [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm")] if database else []
    size_bytes = sum(f.stat().st_size for f in files if f.exists()) if files else None
    return DatabaseInfo(backend="sqlite", size_bytes=size_bytes, runs_total=runs_total)


async def pool_health(client: PrefectClient, pool_name: str) -> PoolHealth:
    pool = await client.read_work_pool(pool_name)
    queues = []
    for queue in sorted(
        await client.read_work_queues(work_pool_name=pool_name), key=lambda q: q.priority
    ):
        late = await client.count_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"]))
            ),
            work_queue_filter=WorkQueueFilter(name=WorkQueueFilterName(any_=[queue.name])),
        )
        queues.append(
            QueueHealth(
                name=queue.name,
                priority=queue.priority,
                is_paused=queue.is_paused,
                late_runs=late,
                status=queue.status.value if queue.status else None,
            )
        )
    workers = [
        WorkerHealth(name=w.name, status=w.status.value, last_heartbeat=w.last_heartbeat_time)
        for w in await client.read_workers_for_work_pool(pool_name)
    ]
    return PoolHealth(
        name=pool.name,
        type=pool.type,
        status=pool.status.value if pool.status else None,
        is_paused=pool.is_paused,
        queues=queues,
        workers=workers,
    )


async def gather_system_status(
    session: AsyncSession,
    client: PrefectClient,
    params: SystemStatusParams,
    *,
    database_url: str,
    pool_name: str,
) -> SystemStatus:
    """Runs by status and type, pool health from Prefect, database size, recent failures."""
    now = utcnow()
    since = now - timedelta(hours=params.window_hours)
    counts = await repository.counts_by_status_and_type(session, since)
    failures = await repository.recent_failures(session, since, params.failures_limit)
    pools: list[PoolHealth] = []
    prefect_error = None
    try:
        pools.append(await pool_health(client, pool_name))
    except (httpx.HTTPError, OSError) as exc:
        prefect_error = f"{type(exc).__name__}: {exc}"
    return SystemStatus(
        generated_at=now,
        window_hours=params.window_hours,
        window_start=since,
        run_counts=[RunCount(status=s.value, job_type=j.value, count=c) for s, j, c in counts],
        pools=pools,
        prefect_api=str(client.api_url),
        prefect_reachable=prefect_error is None,
        prefect_error=prefect_error,
        database=await database_info(session, database_url),
        recent_failures=[
            FailedRun(
                run_id=str(run.id),
                job_type=run.job_type.value,
                target=run.target,
                status=run.status.value,
                finished_at=run.finished_at,
                error=run.error,
            )
            for run in failures
        ],
        include_details=params.include_details,
    )
