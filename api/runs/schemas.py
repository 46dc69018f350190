"""Response bodies for runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowdesk.db.models import Run

Priority = Literal["high", "default", "low"]


class ArtifactOut(BaseModel):
    name: str
    media_type: str
    size_bytes: int
    url: str = Field(description="Download it with the same API key.")


class PrefectLink(BaseModel):
    flow_run_id: uuid.UUID | None
    deployment: str | None
    ui_url: str | None


class RunOut(BaseModel):
    run_id: uuid.UUID
    status: str = Field(examples=["completed"])
    job_type: str
    target: str | None
    owner: str
    priority: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    snapshot: dict[str, Any]
    result: dict[str, Any] | None
    artifacts: list[ArtifactOut]
    error: str | None
    prefect: PrefectLink
    schedule_id: uuid.UUID | None
    scheduled_for: datetime | None
    rerun_of: uuid.UUID | None

    @classmethod
    def from_run(cls, run: Run, owner: str, prefect_ui: str) -> RunOut:
        duration = None
        if run.started_at and run.finished_at:
            duration = round((run.finished_at - run.started_at).total_seconds(), 3)
        flow_run = run.prefect_flow_run_id
        return cls(
            run_id=run.id,
            status=run.status.value,
            job_type=run.job_type.value,
            target=run.target,
            owner=owner,
            priority=run.priority,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_seconds=duration,
            snapshot=run.snapshot,
            result=run.result,
            artifacts=[
                ArtifactOut(
                    name=a["name"],
                    media_type=a["media_type"],
                    size_bytes=a["size_bytes"],
                    url=f"/api/runs/{run.id}/artifacts/{a['name']}",
                )
                for a in run.artifacts or []
            ],
            error=run.error,
            prefect=PrefectLink(
                flow_run_id=flow_run,
                deployment=run.prefect_deployment,
                ui_url=f"{prefect_ui}/runs/flow-run/{flow_run}" if flow_run else None,
            ),
            schedule_id=run.schedule_id,
            scheduled_for=run.scheduled_for,
            rerun_of=run.rerun_of,
        )


class RunAccepted(BaseModel):
    """The answer to a submission: the run exists and will execute."""

    run_id: uuid.UUID
    status: str = Field(examples=["pending"])
    job_type: str
    url: str = Field(description="Poll this for the run's status and result.")
    prefect_flow_run_id: uuid.UUID | None


class CancelAccepted(BaseModel):
    run_id: uuid.UUID
    status: str = Field(description="`cancelled`, or still `running` while Prefect stops it.")
    detail: str
