"""The desk's reads for the API: companies' risk, insights and alerts, filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.desk import Alert, CompanyScan, Insight, RiskScore


async def latest_risks(session: AsyncSession) -> dict[str, RiskScore]:
    """Each company's current risk score (its latest row)."""
    ranked = select(
        RiskScore,
        func.row_number()
        .over(
            partition_by=RiskScore.company_id,
            order_by=(RiskScore.computed_at.desc(), RiskScore.id.desc()),
        )
        .label("rank"),
    ).subquery()
    latest = select(RiskScore).join(ranked, RiskScore.id == ranked.c.id).where(ranked.c.rank == 1)
    return {row.company_id: row for row in (await session.execute(latest)).scalars()}


async def last_scans(session: AsyncSession) -> dict[str, datetime]:
    result = await session.execute(select(CompanyScan))
    return {scan.company_id: scan.last_scanned_at for scan in result.scalars()}


async def risk_history(session: AsyncSession, company_id: str, limit: int) -> list[RiskScore]:
    """The company's risk scores, newest first."""
    result = await session.execute(
        select(RiskScore)
        .where(RiskScore.company_id == company_id)
        .order_by(RiskScore.computed_at.desc(), RiskScore.id.desc())
        .limit(limit)
    )
    return list(result.scalars())


@dataclass(frozen=True)
class InsightFilter:
    company_id: str | None = None
    event_type: str | None = None
    alerts_only: bool = False
    min_materiality: float | None = None
    since: datetime | None = None  # published at or after

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.company_id is not None:
            conditions.append(Insight.company_id == self.company_id)
        if self.event_type is not None:
            conditions.append(Insight.event_type == self.event_type)
        if self.alerts_only:
            conditions.append(Insight.severity.is_not(None))
        if self.min_materiality is not None:
            conditions.append(Insight.materiality >= self.min_materiality)
        if self.since is not None:
            conditions.append(Insight.published_at >= self.since)
        return conditions


async def insights_page(
    session: AsyncSession, where: InsightFilter, *, limit: int, offset: int
) -> tuple[list[Insight], int]:
    """One page of insights, newest published first, and the total matching."""
    conditions = where.conditions()
    rows = await session.execute(
        select(Insight)
        .where(*conditions)
        .order_by(Insight.published_at.desc(), Insight.id)
        .limit(limit)
        .offset(offset)
    )
    total = await session.execute(select(func.count()).select_from(Insight).where(*conditions))
    return list(rows.scalars()), int(total.scalar_one())


@dataclass(frozen=True)
class AlertFilter:
    company_id: str | None = None
    severity: str | None = None
    delivered: bool | None = None
    since: datetime | None = None  # raised at or after

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.company_id is not None:
            conditions.append(Alert.company_id == self.company_id)
        if self.severity is not None:
            conditions.append(Alert.severity == self.severity)
        if self.delivered is not None:
            delivered = Alert.delivered_at.is_not(None)
            conditions.append(delivered if self.delivered else ~delivered)
        if self.since is not None:
            conditions.append(Alert.created_at >= self.since)
        return conditions


async def alerts_page(
    session: AsyncSession, where: AlertFilter, *, limit: int, offset: int
) -> tuple[list[tuple[Alert, Insight]], int]:
    """One page of alerts with their insights, newest first, and the total matching."""
    conditions = where.conditions()
    rows = await session.execute(
        select(Alert, Insight)
        .join(Insight, Insight.id == Alert.insight_id)
        .where(*conditions)
        .order_by(Alert.created_at.desc(), Alert.id)
        .limit(limit)
        .offset(offset)
    )
    total = await session.execute(select(func.count()).select_from(Alert).where(*conditions))
    return [(alert, insight) for alert, insight in rows.tuples()], int(total.scalar_one())
