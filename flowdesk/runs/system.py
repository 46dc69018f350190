"""Recording a run that Prefect started on its own: the desk's timetable, or
`prefect deployment run` from the CLI or the UI. It belongs to the system user.

A timetable tick is keyed by deployment and tick time, so a second flow run of the same
tick records nothing; any other start is keyed by its flow run.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import SYSTEM_USER_ID, JobType, Run, RunStatus
from flowdesk.runs import repository

logger = logging.getLogger(__name__)


def system_key(deployment: str, flow_run_id: uuid.UUID, tick: datetime | None) -> str:
    """The run's idempotency key: per tick for a scheduled flow run, else per flow run."""
    if tick is not None:
        return f"tick:{deployment}@{tick.isoformat()}"[:128]
    return f"flow-run:{flow_run_id}"


async def record_system_run(
    session: AsyncSession,
    *,
    job_type: JobType,
    target: str,
    snapshot: dict[str, Any],
    priority: str,
    flow_run_id: uuid.UUID,
    deployment: str,
    tick: datetime | None,
    now: datetime,
) -> Run | None:
    """The running row for this flow run; None if another flow run already has this tick."""
    key = system_key(deployment, flow_run_id, tick)
    existing = await repository.get_by_idempotency_key(session, SYSTEM_USER_ID, key)
    if existing is not None:
        # A Prefect retry of this very flow run picks its row up again.
        return existing if existing.prefect_flow_run_id == flow_run_id else None
    run = Run(
        id=uuid.uuid4(),
        owner_id=SYSTEM_USER_ID,
        job_type=job_type,
        target=target,
        status=RunStatus.RUNNING,
        priority=priority,
        snapshot=snapshot,
        artifacts=[],
        idempotency_key=key,
        prefect_flow_run_id=flow_run_id,
        prefect_deployment=deployment,
        scheduled_for=tick,
        started_at=now,
    )
    session.add(run)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        logger.warning("%s is already recorded by another flow run", key)
        return None
    return run
