"""A maintenance run: data cleanup, database optimisation or report archival.

The snapshot fixes what the run acts on (the cut-off date, the archive location), so a
rerun of a maintenance run does the same job, not a later one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from prefect.client.orchestration import PrefectClient
from sqlalchemy.ext.asyncio import AsyncEngine

from flowdesk.artifacts import write_artifact
from flowdesk.biotech.companies import get_companies
from flowdesk.db.engine import session_scope
from flowdesk.errors import InvalidRequest
from flowdesk.maintenance.cleanup import cleanup
from flowdesk.maintenance.optimize import optimize
from flowdesk.maintenance.orphans import remove_orphan_deployments
from flowdesk.maintenance.reports_archival import archive_reports
from flowdesk.settings import Settings

MaintenanceTask = Literal["data_cleanup", "db_optimize", "report_archival"]
TASKS: tuple[str, ...] = get_args(MaintenanceTask)


def maintenance_snapshot(
    task: str, settings: Settings, *, now: datetime, submitted_by: str
) -> dict[str, Any]:
    """What a maintenance run will act on, fixed now."""
    if task not in TASKS:
        raise InvalidRequest(
            f"unknown maintenance task {task!r}; one of: {', '.join(TASKS)}", field="task"
        )
    snapshot: dict[str, Any] = {
        "job_type": "maintenance",
        "task": task,
        "submitted_by": submitted_by,
        "resolved_at": now.isoformat(),
    }
    if task == "data_cleanup":
        snapshot["retention_days"] = settings.data_retention_days
        snapshot["cutoff"] = (now - timedelta(days=settings.data_retention_days)).isoformat()
    elif task == "report_archival":
        snapshot["retention_days"] = settings.report_archive_days
        snapshot["cutoff"] = (now - timedelta(days=settings.report_archive_days)).isoformat()
    if task != "db_optimize":
        snapshot["archive_location"] = str(settings.archive_location)
        snapshot["artifacts_dir"] = str(settings.artifacts_dir)
    return snapshot


@dataclass(frozen=True)
class MaintenanceOutcome:
    summary: dict[str, Any]
    artifacts: list[dict[str, Any]]


async def run_maintenance(
    run_id: str,
    snapshot: dict[str, Any],
    engine: AsyncEngine,
    client: PrefectClient,
    *,
    now: datetime,
) -> MaintenanceOutcome:
    """Execute a maintenance snapshot; its report is the summary and `maintenance.json`."""
    task = snapshot["task"]
    summary: dict[str, Any] = {"task": task}
    if task == "db_optimize":
        summary.update((await optimize(engine)).to_dict())
    elif task == "data_cleanup":
        async with session_scope(engine) as session:
            report = await cleanup(
                session,
                cutoff=datetime.fromisoformat(snapshot["cutoff"]),
                archive_dir=Path(snapshot["archive_location"]),
                artifacts_dir=Path(snapshot["artifacts_dir"]),
                company_ids=[c.id for c in get_companies().all()],
                stamp=f"{now:%Y%m%dT%H%M%S}-{run_id[:8]}",
            )
            summary.update(report.to_dict())
            summary["orphan_deployments"] = await remove_orphan_deployments(client, session, now)
    elif task == "report_archival":
        async with session_scope(engine) as session:
            archived = await archive_reports(
                session,
                cutoff=datetime.fromisoformat(snapshot["cutoff"]),
                artifacts_dir=Path(snapshot["artifacts_dir"]),
                archive_dir=Path(snapshot["archive_location"]),
            )
            summary.update(archived.to_dict())
    else:
        raise ValueError(f"snapshot names unknown maintenance task {task!r}")
    artifact = write_artifact(run_id, "maintenance.json", json.dumps(summary, indent=2))
    return MaintenanceOutcome(summary=summary, artifacts=[artifact])
