"""Bodies of the biotech desk's endpoints: analysis runs, companies, insights, alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.runs.schemas import Priority


class AnalysisRunRequest(BaseModel):
    """A scan to run now: the daily analysis (all active companies) or the quick scan."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"scan": "quick"}, {"companies": ["GILD", "MRNA"]}]},
    )

    scan: Literal["daily", "quick"] = Field(
        "daily", description="daily: every active company; quick: the priority companies."
    )
    companies: list[str] | None = Field(
        None, max_length=200, description="Only these company ids (default: the scan's list)."
    )
    priority: Priority | None = Field(
        None, description="Work queue; default high for a quick scan, default otherwise."
    )
    news_source: Literal["sample", "rss", "backend"] | None = Field(
        None,
        description="Where the news comes from (default FLOWDESK_NEWS_SOURCE): the sample "
        "feeds, each company's RSS/Atom feeds, or the Backend API at API_BASE_URL.",
    )


class RiskOut(BaseModel):
    score: float = Field(description="0 (calm) to 100; 50 is neutral.")
    previous: float | None
    delta: float
    computed_at: datetime
    drivers: list[dict[str, Any]] = Field(description="The insights that moved it most.")


class CompanyOut(BaseModel):
    id: str
    name: str
    priority: str
    is_priority: bool = Field(description="Covered by the hourly quick scan.")
    active: bool
    analysis_frequency: str
    aliases: list[str]
    risk: RiskOut | None
    last_scanned_at: datetime | None


class CompanyDetailOut(CompanyOut):
    risk_history: list[RiskOut] = Field(description="Newest first.")
    recent_insights: list[InsightOut]


class InsightOut(BaseModel):
    id: uuid.UUID
    company_id: str
    title: str
    url: str | None
    source: str
    published_at: datetime
    event_type: str
    sentiment: float = Field(description="-1 (bad news) to 1 (good news).")
    materiality: float = Field(description="0 to 1: how much it matters, with recency.")
    severity: str | None = Field(description="Set when the insight raised an alert.")
    evidence: list[str] = Field(description="The phrases that decided its event type.")
    run_id: uuid.UUID | None
    created_at: datetime


class InsightPage(BaseModel):
    items: list[InsightOut]
    total: int
    limit: int
    offset: int


class AlertOut(BaseModel):
    id: uuid.UUID
    company_id: str
    severity: str
    title: str
    event_type: str
    url: str | None
    created_at: datetime
    delivered_at: datetime | None = Field(description="When the first channel took it.")
    deliveries: list[dict[str, Any]] = Field(description="Each attempt per channel.")
    insight_id: uuid.UUID
    run_id: uuid.UUID | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


CompanyDetailOut.model_rebuild()
