"""POST /api/maintenance/run: data cleanup, database optimisation or report archival (admins)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, StateDep
from api.errors import ADMIN_RESPONSES
from api.runs import service
from api.runs.endpoints import IdempotencyKey, accepted
from api.runs.schemas import Priority, RunAccepted
from flowdesk.db.models import JobType
from flowdesk.db.types import utcnow
from flowdesk.jobs.maintenance import maintenance_snapshot

router = APIRouter(prefix="/api/maintenance", tags=["maintenance"])


class MaintenanceRunRequest(BaseModel):
    """Which maintenance task to run now (the timetable runs each on its own)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"task": "data_cleanup"}]}
    )

    task: Literal["data_cleanup", "db_optimize", "report_archival"] = Field(
        description="data_cleanup: archive records older than the retention, temp files, "
        "orphans; db_optimize: VACUUM/ANALYZE/REINDEX; report_archival: compress old "
        "report artifacts into the archive location."
    )
    priority: Priority = "low"


@router.post(
    "/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses=ADMIN_RESPONSES,
)
async def run_maintenance(
    body: MaintenanceRunRequest,
    state: StateDep,
    admin: AdminUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Run a maintenance task now; admins only."""
    snapshot = maintenance_snapshot(
        body.task, state.settings, now=utcnow(), submitted_by=admin.name
    )
    run = await service.submit(
        state,
        admin,
        job_type=JobType.MAINTENANCE,
        target=body.task,
        snapshot=snapshot,
        priority=body.priority,
        idempotency_key=idempotency_key,
    )
    return accepted(run, response)
