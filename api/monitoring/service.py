"""What `/metrics` and `/stats` report: stored metrics, run and desk numbers, Prefect's pool.

Prefect's numbers (workers online, queue depths) are read live under a short deadline;
when Prefect cannot answer they are left out, and the rest is still reported.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import anyio
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
    WorkQueueFilter,
    WorkQueueFilterName,
)
from prefect.client.schemas.objects import StateType, WorkerStatus, WorkQueue
from prefect.exceptions import ObjectNotFound
from sqlalchemy.ext.asyncio import AsyncSession

from api.monitoring.schemas import (
    BreakerOut,
    DeskOut,
    QueueDepthOut,
    RiskOut,
    RunCountOut,
    RunWindowOut,
    RunWindowsOut,
    StatsOut,
)
from api.state import AppState
from flowdesk.accounts.service import Principal
from flowdesk.biotech import queries, store
from flowdesk.db.desk import Alert, CompanyScan, Insight
from flowdesk.db.models import JobType, RunStatus
from flowdesk.db.types import utcnow
from flowdesk.errors import ServiceUnavailable
from flowdesk.metrics import render
from flowdesk.resilience import breaker_states
from flowdesk.runs import dead_letters, repository

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Well inside Prometheus' default 10 s scrape timeout, however slow Prefect is.
PREFECT_DEADLINE_S = 3.0
TOP_RISKS = 5


async def metrics_text(state: AppState, session: AsyncSession) -> bytes:
    """The exposition; active_workers is left out when Prefect cannot answer."""
    workers, error = await _from_prefect(state, lambda: _workers_online(state))
    if error is not None:
        logger.warning("metrics without active_workers: %s", error)
    return await render(session, workers)


async def statistics(state: AppState, session: AsyncSession, principal: Principal) -> StatsOut:
    """Everything `/stats` shows; run numbers are the caller's own unless an admin asks."""
    now = utcnow()
    owner_id = None if principal.is_admin else uuid.UUID(principal.user_id)
    waiting = repository.RunFilter(
        owner_id=owner_id,
        statuses=(RunStatus.DEAD_LETTERED,),
        extra=(dead_letters.requeued(False),),
    )
    runs = RunWindowsOut(
        last_24h=await _run_window(session, now - timedelta(hours=24), owner_id),
        last_7d=await _run_window(session, now - timedelta(days=7), owner_id),
    )
    dead_letters_waiting = await repository.count(session, waiting)
    desk = await _desk(session, now)
    workers, workers_error = await _from_prefect(state, lambda: _workers_online(state))
    queues, queues_error = await _from_prefect(state, lambda: _queue_depths(state, now))
    breakers = await breaker_states(state.settings)
    return StatsOut(
        generated_at=now,
        scope="all" if principal.is_admin else "own",
        runs=runs,
        dead_letters_waiting=dead_letters_waiting,
        workers_online=workers,
        queues=queues,
        prefect_error=workers_error or queues_error,
        circuit_breakers=[
            BreakerOut(
                dependency=snapshot.dependency,
                state=snapshot.state.value,
                failures=snapshot.failures,
                opened_at=_from_unix(snapshot.opened_at),
                reopens_at=_from_unix(snapshot.reopens_at),
            )
            for _, snapshot in sorted(breakers.items())
        ],
        desk=desk,
    )


async def _from_prefect(
    state: AppState, read: Callable[[], Awaitable[T]]
) -> tuple[T | None, str | None]:
    """`read()` under the deadline: its result, or None and why Prefect did not answer."""
    try:
        with anyio.fail_after(PREFECT_DEADLINE_S):
            return await read(), None
    except TimeoutError:
        deadline = f"{PREFECT_DEADLINE_S:g} s"
        return None, f"Prefect API at {state.prefect.api_url} did not answer within {deadline}"
    except ServiceUnavailable as exc:
        return None, exc.detail
    except ObjectNotFound:
        return None, f"Prefect has no work pool {state.settings.work_pool!r}: run `flowdesk up`"


async def _workers_online(state: AppState) -> int:
    workers = await state.prefect.call(
        "reading the pool's workers",
        state.prefect.client.read_workers_for_work_pool(state.settings.work_pool),
    )
    return sum(1 for worker in workers if worker.status == WorkerStatus.ONLINE)


async def _queue_depths(state: AppState, now: datetime) -> list[QueueDepthOut]:
    pool = state.settings.work_pool
    queues = await state.prefect.call(
        "reading the pool's queues", state.prefect.client.read_work_queues(work_pool_name=pool)
    )
    depths = await asyncio.gather(*(_queue_depth(state, q, now) for q in queues))
    return sorted(depths, key=lambda q: (q.priority, q.name))


async def _queue_depth(state: AppState, queue: WorkQueue, now: datetime) -> QueueDepthOut:
    async def count(runs: FlowRunFilter) -> int:
        return await state.prefect.call(
            f"counting the flow runs of queue {queue.name}",
            state.prefect.client.count_flow_runs(
                flow_run_filter=runs,
                work_pool_filter=WorkPoolFilter(
                    name=WorkPoolFilterName(any_=[state.settings.work_pool])
                ),
                work_queue_filter=WorkQueueFilter(name=WorkQueueFilterName(any_=[queue.name])),
            ),
        )

    def named(name: str) -> FlowRunFilter:
        return FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=[name])))

    due = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=now),
    )
    due_count, late, scheduled = await asyncio.gather(
        count(due), count(named("Late")), count(named("Scheduled"))
    )
    return QueueDepthOut(
        name=queue.name,
        priority=queue.priority,
        is_paused=queue.is_paused,
        due=due_count,
        late=late,
        scheduled=scheduled,
    )


async def _run_window(
    session: AsyncSession, since: datetime, owner_id: uuid.UUID | None
) -> RunWindowOut:
    counts = await repository.counts_by_status_and_type(session, since, owner_id)
    by_status = {status.value: 0 for status in RunStatus}
    by_job_type = {job_type.value: 0 for job_type in JobType}
    for status, job_type, count in counts:
        by_status[status.value] += count
        by_job_type[job_type.value] += count
    return RunWindowOut(
        since=since,
        total=sum(by_status.values()),
        by_status=by_status,
        by_job_type=by_job_type,
        counts=[
            RunCountOut(job_type=job_type.value, status=status.value, count=count)
            for status, job_type, count in sorted(counts, key=lambda c: (c[1], c[0]))
        ],
    )


async def _desk(session: AsyncSession, now: datetime) -> DeskOut:
    day, week = now - timedelta(hours=24), now - timedelta(days=7)
    return DeskOut(
        companies_analyzed_24h=await store.count_since(
            session, CompanyScan, CompanyScan.last_scanned_at, day
        ),
        insights_24h=await store.count_since(session, Insight, Insight.created_at, day),
        insights_7d=await store.count_since(session, Insight, Insight.created_at, week),
        alerts_24h=await store.count_since(session, Alert, Alert.created_at, day),
        alerts_7d=await store.count_since(session, Alert, Alert.created_at, week),
        top_risks=await _top_risks(session, TOP_RISKS),
    )


async def _top_risks(session: AsyncSession, limit: int) -> list[RiskOut]:
    """The highest current scores: each company's latest row, ranked by score."""
    latest = await queries.latest_risks(session)
    ranked = sorted(latest.values(), key=lambda row: (-row.score, row.company_id))[:limit]
    return [
        RiskOut(
            company_id=row.company_id, score=row.score, delta=row.delta, computed_at=row.computed_at
        )
        for row in ranked
    ]


def _from_unix(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
