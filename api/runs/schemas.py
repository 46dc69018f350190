"""Response bodies for runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowdesk.db.models import Run
from flowdesk.runs.statistics import RunStatistics, Spread

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


class RunSummary(BaseModel):
    """A run as a listing shows it: everything but its snapshot, result and artifacts."""

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
    error: str | None
    reason: str | None = Field(description="Why the run was skipped, if it was.")
    prefect: PrefectLink
    schedule_id: uuid.UUID | None
    scheduled_for: datetime | None
    rerun_of: uuid.UUID | None = Field(description="The run this one re-ran, if any.")

    @staticmethod
    def summary_fields(run: Run, owner: str, prefect_ui: str) -> dict[str, Any]:
        """The summary's fields; reads no column a listing leaves unloaded."""
        duration = None
        if run.started_at and run.finished_at:
            duration = round((run.finished_at - run.started_at).total_seconds(), 3)
        flow_run = run.prefect_flow_run_id
        return {
            "run_id": run.id,
            "status": run.status.value,
            "job_type": run.job_type.value,
            "target": run.target,
            "owner": owner,
            "priority": run.priority,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_seconds": duration,
            "error": run.error,
            "reason": run.reason,
            "prefect": PrefectLink(
                flow_run_id=flow_run,
                deployment=run.prefect_deployment,
                ui_url=f"{prefect_ui}/runs/flow-run/{flow_run}" if flow_run else None,
            ),
            "schedule_id": run.schedule_id,
            "scheduled_for": run.scheduled_for,
            "rerun_of": run.rerun_of,
        }

    @classmethod
    def from_run(cls, run: Run, owner: str, prefect_ui: str) -> RunSummary:
        return cls(**cls.summary_fields(run, owner, prefect_ui))


class RunOut(RunSummary):
    """A run in full: its summary, the snapshot it executes, its result and artifacts."""

    snapshot: dict[str, Any]
    result: dict[str, Any] | None
    artifacts: list[ArtifactOut]

    @classmethod
    def from_run(cls, run: Run, owner: str, prefect_ui: str) -> RunOut:
        return cls(
            **cls.summary_fields(run, owner, prefect_ui),
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
        )


class RunPage(BaseModel):
    """One page of runs, newest first."""

    items: list[RunSummary]
    total: int = Field(description="How many runs match the filters, over all pages.")
    limit: int
    offset: int


class Percentiles(BaseModel):
    p50: float | None = Field(description="Median, in seconds; null with no runs to measure.")
    p95: float | None


class JobTypeStatisticsOut(BaseModel):
    runs: int = Field(description="Runs of this job type created in the window.")
    duration_seconds: Percentiles = Field(description="finished_at - started_at.")
    start_lateness_seconds: Percentiles = Field(
        description="started_at - (scheduled_for, else created_at)."
    )


class RunStatisticsOut(BaseModel):
    days: int
    since: datetime = Field(description="Runs created at or after this instant are counted.")
    total_runs: int
    status_counts: dict[str, int] = Field(description="Every run status, zeros included.")
    job_type_counts: dict[str, int]
    success_rate: float | None = Field(
        description="completed / (completed + failed + crashed + dead_lettered); null when 0/0."
    )
    by_job_type: dict[str, JobTypeStatisticsOut]

    @classmethod
    def from_statistics(cls, stats: RunStatistics, days: int, since: datetime) -> RunStatisticsOut:
        def seconds(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        def percentiles(spread: Spread) -> Percentiles:
            return Percentiles(p50=seconds(spread.p50), p95=seconds(spread.p95))

        return cls(
            days=days,
            since=since,
            total_runs=stats.total_runs,
            status_counts=stats.status_counts,
            job_type_counts=stats.job_type_counts,
            success_rate=None if stats.success_rate is None else round(stats.success_rate, 4),
            by_job_type={
                job_type: JobTypeStatisticsOut(
                    runs=s.runs,
                    duration_seconds=percentiles(s.duration_seconds),
                    start_lateness_seconds=percentiles(s.start_lateness_seconds),
                )
                for job_type, s in stats.by_job_type.items()
            },
        )


class RunAccepted(BaseModel):
    """The answer to a submission: the run exists and will execute."""

    run_id: uuid.UUID
    status: str = Field(examples=["pending"])
    job_type: str
    url: str = Field(description="Poll this for the run's status and result.")
    prefect_flow_run_id: uuid.UUID | None = Field(
        description=(
            "Null when the API answered before Prefect created the flow run (it does so "
            "right after); the run's `prefect.flow_run_id` shows it then."
        )
    )


class CancelAccepted(BaseModel):
    run_id: uuid.UUID
    status: str = Field(description="`cancelled`, or still `running` while Prefect stops it.")
    detail: str
