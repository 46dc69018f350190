"""The maintenance flow: data cleanup, database optimisation or report archival."""

from __future__ import annotations

import json
from typing import Any

from prefect import flow, get_client
from prefect.artifacts import acreate_markdown_artifact

from flowdesk.db.models import JobType
from flowdesk.db.types import utcnow
from flowdesk.jobs.maintenance import maintenance_snapshot, run_maintenance
from flowdesk.settings import get_settings
from flows import lifecycle


@flow(name="maintenance", persist_result=False, **lifecycle.HOOKS)
async def maintenance(run_id: str | None = None, task: str = "data_cleanup") -> dict[str, Any]:
    """Data cleanup, database optimisation or report archival, as the run's snapshot says."""
    if run_id is None:
        snapshot = maintenance_snapshot(
            task, get_settings(), now=utcnow(), submitted_by="the desk's timetable"
        )
        run = await lifecycle.start_system(JobType.MAINTENANCE, task, snapshot, "low")
    else:
        run = await lifecycle.claim(run_id)
    if run is None:
        return {"claimed": False}
    run_id = str(run.id)
    async with get_client() as client:
        outcome = await run_maintenance(
            run_id, run.snapshot, lifecycle.engine(), client, now=utcnow()
        )
    await lifecycle.record_result(run_id, outcome.summary, outcome.artifacts)
    await acreate_markdown_artifact(
        key=f"maintenance-{run_id}",
        markdown=(
            f"# Maintenance: {run.snapshot['task']}\n\n```json\n"
            f"{json.dumps(outcome.summary, indent=2, default=str)}\n```\n"
        ),
        description=f"maintenance {run.snapshot['task']}, run {run_id}",
    )
    return outcome.summary
