"""Request and response bodies for schedules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.runs.schemas import Priority


class ScheduleIn(BaseModel):
    """A schedule as the seed describes it, plus time zone, calendar and missed-run policy."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Daily Tech Screener",
                    "job_type": "screener",
                    "target": "tech_majors",
                    "task_params": {
                        "filter_criteria": {
                            "market_cap_min": 1_000_000_000,
                            "pe_ratio_max": 25,
                            "return_on_equity_min": 0.15,
                        },
                        "top_n": 20,
                    },
                    "cron": "0 9 * * *",
                    "enabled": True,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=128)
    job_type: Literal["screener", "report"]
    target: str = Field(
        min_length=1, max_length=128, description="A screener set, or a report type."
    )
    task_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Screener: filter_criteria, preset, top_n. Report: its parameters.",
    )
    cron: str = Field(max_length=128, examples=["0 9 * * 1-5"])
    enabled: bool = True
    timezone: str = Field("UTC", max_length=64, examples=["America/New_York"])
    calendar: str | None = Field(
        None, max_length=32, description="Fire only on this exchange's trading days (XNYS…)."
    )
    catchup: Literal["none", "latest", "all"] = Field(
        "latest", description="Which missed ticks still run when the worker comes back."
    )
    stale_after: str | int = Field(
        "1h", description="A tick that cannot start within this long is skipped (90, '30m')."
    )
    priority: Priority = "default"


class DeploymentLink(BaseModel):
    deployment_id: uuid.UUID | None
    deployment_name: str
    ui_url: str | None


class ScheduleOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    owner: str
    job_type: str
    target: str
    task_params: dict[str, Any]
    cron: str
    timezone: str
    calendar: str | None
    catchup: str
    stale_after: str
    priority: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    next_fire_times: list[datetime] = Field(description="The next 5 ticks, UTC (none if paused).")
    prefect: DeploymentLink


class SchedulePage(BaseModel):
    items: list[ScheduleOut]
    total: int
    limit: int
    offset: int
