"""Response bodies for `GET /stats`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class RunCountOut(BaseModel):
    job_type: str = Field(examples=["screener"])
    status: str = Field(examples=["completed"])
    count: int


class RunWindowOut(BaseModel):
    """The runs created since `since`."""

    since: datetime
    total: int
    by_status: dict[str, int] = Field(description="Every status, zeros included.")
    by_job_type: dict[str, int] = Field(description="Every job type, zeros included.")
    counts: list[RunCountOut] = Field(description="Each job type and status that has runs.")


class RunWindowsOut(BaseModel):
    last_24h: RunWindowOut
    last_7d: RunWindowOut


class QueueDepthOut(BaseModel):
    """One work queue of the flowdesk pool, as Prefect counts its flow runs."""

    name: str = Field(examples=["default"])
    priority: int
    is_paused: bool
    due: int = Field(description="Scheduled (or late) flow runs whose start time has come.")
    late: int = Field(description="Flow runs Prefect has marked Late.")
    scheduled: int = Field(description="Flow runs in state Scheduled, future ones included.")


class BreakerOut(BaseModel):
    dependency: str = Field(examples=["news-feed"])
    state: Literal["closed", "open", "half_open"]
    failures: int = Field(description="Consecutive failures counted.")
    opened_at: datetime | None
    reopens_at: datetime | None = Field(description="When an open breaker lets a trial through.")


class RiskOut(BaseModel):
    company_id: str = Field(examples=["GILD"])
    score: float
    delta: float = Field(description="The change from the company's previous score.")
    computed_at: datetime


class DeskOut(BaseModel):
    """The biotech desk's numbers: shared by every user, so the same for everyone."""

    companies_analyzed_24h: int
    insights_24h: int
    insights_7d: int
    alerts_24h: int
    alerts_7d: int
    top_risks: list[RiskOut] = Field(description="The 5 highest current risk scores.")


class StatsOut(BaseModel):
    """Detailed statistics at `generated_at`."""

    generated_at: datetime
    scope: Literal["all", "own"] = Field(
        description="Whose runs the run numbers count: everyone's (admin) or the caller's."
    )
    runs: RunWindowsOut
    dead_letters_waiting: int = Field(description="Dead-lettered runs not requeued yet.")
    workers_online: int | None = Field(description="Null when Prefect cannot be reached.")
    queues: list[QueueDepthOut] | None = Field(description="Null when Prefect cannot be reached.")
    prefect_error: str | None = Field(description="Why Prefect's numbers are null.")
    circuit_breakers: list[BreakerOut]
    desk: DeskOut
