"""Recording a schedule's tick as a run when its flow run starts.

The snapshot is resolved now (the set's tickers at this moment), the missed-run policy
decides between running and skipping, and the unique `(schedule_id, scheduled_for)`
makes a second flow run for the same tick a recorded no-op.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import JobType, Run, RunStatus, User
from flowdesk.errors import ConfigError, InvalidRequest
from flowdesk.metrics import record_job
from flowdesk.schedules import repository
from flowdesk.schedules.params import resolve_snapshot
from flowdesk.schedules.timing import Catchup, RunIt, SkipIt, decide, next_fire_times
from flowdesk.screener_sets import get_catalog_store
from flowdesk.settings import get_settings

logger = logging.getLogger(__name__)


async def record_tick(
    session: AsyncSession,
    *,
    job_type: JobType,
    params: dict[str, Any],
    flow_run_id: uuid.UUID,
    deployment: str,
    scheduled_for: datetime,
    now: datetime,
) -> Run | None:
    """The tick's run, claimed by this flow run if it is to execute; None when this flow
    run has nothing to do (tick skipped, failed to resolve, already recorded, or the
    schedule is gone)."""
    schedule = await repository.get(session, uuid.UUID(params["schedule_id"]))
    if schedule is None:
        logger.warning(
            "schedule %s no longer exists; tick %s ignored", params["schedule_id"], scheduled_for
        )
        return None
    resumed = await _claimed_by(session, schedule.id, scheduled_for, flow_run_id)
    if resumed is not None:
        logger.info("tick %s resumed: a stopping worker handed its flow run back", scheduled_for)
        return resumed
    settings = get_settings()
    decision: RunIt | SkipIt = await decide(
        scheduled_for=scheduled_for,
        now=now,
        cron=schedule.cron,
        timezone=schedule.timezone,
        calendar=schedule.calendar,
        catchup=Catchup(schedule.catchup),
        stale_after=timedelta(seconds=schedule.stale_after_seconds),
        grace=timedelta(seconds=settings.schedule_grace_seconds),
    )
    # Prefect's scheduler may insert runs for the old cron while an edit is saved (it read
    # the deployment just before): such a tick is not one of the schedule's now.
    ticks = await next_fire_times(schedule.cron, schedule.timezone, 1, after=scheduled_for)
    if ticks[:1] != [scheduled_for]:
        decision = SkipIt(
            f"{scheduled_for:%Y-%m-%d %H:%M} UTC is not a tick of the schedule's cron "
            f"{schedule.cron!r} ({schedule.timezone}): a run made for an earlier definition"
        )
    owner = await session.get(User, schedule.owner_id)
    run = Run(
        id=uuid.uuid4(),
        owner_id=schedule.owner_id,
        job_type=job_type,
        target=params["target"],
        priority=schedule.priority,
        artifacts=[],
        schedule_id=schedule.id,
        scheduled_for=scheduled_for,
        prefect_flow_run_id=flow_run_id,
        prefect_deployment=deployment,
        started_at=now,
    )
    try:
        run.snapshot = resolve_snapshot(
            job_type,
            params["target"],
            params["task_params"],
            catalog=get_catalog_store().get(),
            settings=settings,
            submitted_by=f"schedule {schedule.name!r} of {owner.name if owner else '?'}",
            at=now,
        )
        run.status = RunStatus.RUNNING
    except (InvalidRequest, ConfigError) as exc:
        # The set or report type went away since the schedule was saved: record why.
        run.snapshot = {
            "job_type": job_type.value,
            "target": params["target"],
            "task_params": params["task_params"],
        }
        run.status, run.error, run.finished_at = RunStatus.FAILED, exc.detail, now
    if isinstance(decision, SkipIt):
        run.status, run.reason, run.finished_at = RunStatus.SKIPPED, decision.reason, now
    session.add(run)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()  # expires `schedule`: log its id from the parameters
        logger.warning(
            "tick %s of schedule %s is already recorded by another flow run",
            scheduled_for,
            params["schedule_id"],
        )
        return None
    if run.status is not RunStatus.RUNNING:
        # Recorded already finished, without going through `finish`: counted here. It
        # never ran, so it has no duration.
        await record_job(session, job_type.value, run.status.value, None)
    return run if run.status is RunStatus.RUNNING else None


async def _claimed_by(
    session: AsyncSession, schedule_id: uuid.UUID, scheduled_for: datetime, flow_run_id: uuid.UUID
) -> Run | None:
    """The tick's run if this flow run recorded it and it is still running (the flow run
    was handed back by a stopping worker and is executing again)."""
    run = await session.scalar(
        select(Run).where(Run.schedule_id == schedule_id, Run.scheduled_for == scheduled_for)
    )
    if run is not None and run.prefect_flow_run_id == flow_run_id:
        return run if run.status is RunStatus.RUNNING else None
    return None
