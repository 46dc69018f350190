"""The biotech desk's tables: insights from news, alerts they raised, risk score history,
and each company's last scan."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from flowdesk.db.models import Base
from flowdesk.db.types import JSONType, UTCDateTime, utcnow


class Insight(Base):
    """One analysed news item about one company: its event type and scores."""

    __tablename__ = "insights"
    __table_args__ = (
        # A story is analysed once per company, however many feeds or scans carry it.
        UniqueConstraint("company_id", "fingerprint", name="uq_insights_company_fingerprint"),
        Index("ix_insights_company_published", "company_id", "published_at"),
        Index("ix_insights_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    company_id: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_type: Mapped[str] = mapped_column(String(32))
    sentiment: Mapped[float] = mapped_column(Float)
    materiality: Mapped[float] = mapped_column(Float)
    # None: not significant enough to alert on.
    severity: Mapped[str | None] = mapped_column(String(16), default=None)
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """A significant insight, and what happened when it was delivered."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_company_created", "company_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    insight_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("insights.id", ondelete="CASCADE"), unique=True
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    company_id: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    # One entry per notification block: {"block": ..., "ok": bool, "error": str | None}.
    deliveries: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskScore(Base):
    """A company's risk score after one scan; the rows of a company are its history."""

    __tablename__ = "risk_scores"
    __table_args__ = (Index("ix_risk_scores_company_computed", "company_id", "computed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    score: Mapped[float] = mapped_column(Float)
    previous: Mapped[float | None] = mapped_column(Float, default=None)
    delta: Mapped[float] = mapped_column(Float, default=0.0)
    # The insights that moved it most, so a score can be explained.
    drivers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CompanyScan(Base):
    """When each company was last scanned, so a scan asks only for news since then."""

    __tablename__ = "company_scans"

    company_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )


class MetricSample(Base):
    """One monotonic metric series (a counter, or a histogram's bucket, sum or count).

    Incremented in the same transaction as what it counts, so `GET /metrics` is right
    whichever API process answers, across restarts, and after old rows are archived.
    """

    __tablename__ = "metric_samples"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    # Canonical label set: 'job_type="screener",status="completed"' (sorted by key).
    labels: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
