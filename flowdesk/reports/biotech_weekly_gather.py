"""Gathering the facts of a `biotech_weekly` report from the desk's tables.

The window and its boundaries are the ones `flowdesk.reports.biotech_weekly` describes;
every query here reads, none writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.biotech.companies import Company, CompanyRegistry
from flowdesk.db.desk import Alert, CompanyScan, Insight, RiskScore
from flowdesk.reports.biotech_weekly import (
    LISTED_SEVERITIES,
    AlertEntry,
    BiotechWeekly,
    CompanyWeek,
    MaterialEvent,
)
from flowdesk.reports.registry import BiotechWeeklyParams

# Sums are rounded so that the order Postgres happens to add floats in cannot change the
# last digit of the JSON rendering: 6 places is far below what any rendering shows (2).
_PLACES = 6


def covered_companies(params: BiotechWeeklyParams, registry: CompanyRegistry) -> list[Company]:
    """The companies the parameters name, or every active company."""
    if params.companies is None:
        return registry.active()
    return [registry.get(company_id) for company_id in params.companies]


def _insights_in_window(
    ids: Sequence[str], start: datetime, as_of: datetime
) -> list[ColumnElement[bool]]:
    # Stored by as_of as well: a later scan's insights about the same week do not change
    # what a rerun of this snapshot reports.
    return [
        Insight.company_id.in_(ids),
        Insight.published_at >= start,
        Insight.published_at < as_of,
        Insight.created_at <= as_of,
    ]


async def _latest_scores(
    session: AsyncSession, ids: Sequence[str], at: datetime
) -> dict[str, float]:
    """Each company's latest risk score at or before ``at``."""
    ranked = (
        select(
            RiskScore.company_id,
            RiskScore.score,
            func.row_number()
            .over(
                partition_by=RiskScore.company_id,
                order_by=(RiskScore.computed_at.desc(), RiskScore.id.desc()),
            )
            .label("rank"),
        )
        .where(RiskScore.company_id.in_(ids), RiskScore.computed_at <= at)
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.company_id, ranked.c.score).where(ranked.c.rank == 1)
    )
    return {company_id: float(score) for company_id, score in rows}


async def _last_scans(
    session: AsyncSession, ids: Sequence[str], as_of: datetime
) -> dict[str, datetime]:
    """Each company's last scan at or before as_of: every scan stores a risk score, and
    ``company_scans`` keeps the latest even when cleanup has removed old scores."""
    last: dict[str, datetime] = {}
    scored = await session.execute(
        select(RiskScore.company_id, func.max(RiskScore.computed_at))
        .where(RiskScore.company_id.in_(ids), RiskScore.computed_at <= as_of)
        .group_by(RiskScore.company_id)
    )
    marked = await session.execute(
        select(CompanyScan.company_id, CompanyScan.last_scanned_at).where(
            CompanyScan.company_id.in_(ids), CompanyScan.last_scanned_at <= as_of
        )
    )
    for company_id, at in [*scored.tuples(), *marked.tuples()]:
        if at is not None and (company_id not in last or at > last[company_id]):
            last[company_id] = at
    return last


async def _insight_stats(
    session: AsyncSession, ids: Sequence[str], start: datetime, as_of: datetime
) -> dict[str, dict[str, tuple[int, float, float, float]]]:
    """Per company and event type: count, sum of sentiment, of sentiment x materiality,
    of materiality."""
    rows = await session.execute(
        select(
            Insight.company_id,
            Insight.event_type,
            func.count(),
            func.sum(Insight.sentiment),
            func.sum(Insight.sentiment * Insight.materiality),
            func.sum(Insight.materiality),
        )
        .where(*_insights_in_window(ids, start, as_of))
        .group_by(Insight.company_id, Insight.event_type)
    )
    stats: dict[str, dict[str, tuple[int, float, float, float]]] = defaultdict(dict)
    for company_id, event_type, count, sentiment, weighted, materiality in rows:
        stats[company_id][event_type] = (
            int(count),
            float(sentiment),
            float(weighted),
            float(materiality),
        )
    return stats


async def _alert_counts(
    session: AsyncSession, ids: Sequence[str], start: datetime, as_of: datetime
) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(Alert.company_id, Alert.severity, func.count())
        .where(Alert.company_id.in_(ids), Alert.created_at >= start, Alert.created_at < as_of)
        .group_by(Alert.company_id, Alert.severity)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for company_id, severity, count in rows:
        counts[company_id][severity] = int(count)
    return counts


async def _material_events(
    session: AsyncSession, ids: Sequence[str], start: datetime, as_of: datetime, limit: int
) -> list[MaterialEvent]:
    rows = await session.scalars(
        select(Insight)
        .where(*_insights_in_window(ids, start, as_of))
        .order_by(
            Insight.materiality.desc(),
            Insight.published_at.desc(),
            Insight.company_id,
            Insight.title,
            Insight.id,
        )
        .limit(limit)
    )
    return [
        MaterialEvent(
            company_id=i.company_id,
            title=i.title,
            url=i.url,
            source=i.source,
            event_type=i.event_type,
            sentiment=i.sentiment,
            materiality=i.materiality,
            severity=i.severity,
            published_at=i.published_at,
        )
        for i in rows
    ]


async def _listed_alerts(
    session: AsyncSession, ids: Sequence[str], start: datetime, as_of: datetime, limit: int
) -> list[AlertEntry]:
    rows = await session.scalars(
        select(Alert)
        .where(
            Alert.company_id.in_(ids),
            Alert.severity.in_(LISTED_SEVERITIES),
            Alert.created_at >= start,
            Alert.created_at < as_of,
        )
        .order_by(Alert.created_at.desc(), Alert.company_id, Alert.title, Alert.id)
        .limit(limit)
    )
    return [
        AlertEntry(
            company_id=a.company_id,
            severity=a.severity,
            title=a.title,
            created_at=a.created_at,
            delivered_at=a.delivered_at,
        )
        for a in rows
    ]


def _company_week(
    company: Company,
    stats: dict[str, tuple[int, float, float, float]],
    alerts: dict[str, int],
    risk: tuple[float | None, float | None],
    last_scan: datetime | None,
    start: datetime,
) -> CompanyWeek:
    count = sum(s[0] for s in stats.values())
    sentiment = sum(s[1] for s in stats.values())
    return CompanyWeek(
        company_id=company.id,
        name=company.name,
        priority=company.priority.value,
        risk_then=risk[0],
        risk_now=risk[1],
        insights=count,
        sentiment_mean=round(sentiment / count, _PLACES) if count else None,
        weighted_sentiment=round(sum(s[2] for s in stats.values()), _PLACES),
        materiality_total=round(sum(s[3] for s in stats.values()), _PLACES),
        event_counts={event: s[0] for event, s in sorted(stats.items())},
        alerts=dict(sorted(alerts.items())),
        last_scan_at=last_scan,
        scanned_in_window=last_scan is not None and last_scan >= start,
    )


async def gather_biotech_weekly(
    session: AsyncSession,
    params: BiotechWeeklyParams,
    companies: Sequence[Company],
    *,
    as_of: datetime,
) -> BiotechWeekly:
    """Per-company counts, risk then and now, material events and alerts of the window."""
    start = as_of - timedelta(days=params.days)
    companies = sorted(companies, key=lambda c: c.id)  # the order asked for changes nothing
    ids = [c.id for c in companies]
    stats = await _insight_stats(session, ids, start, as_of)
    alerts = await _alert_counts(session, ids, start, as_of)
    then = await _latest_scores(session, ids, start)
    now = await _latest_scores(session, ids, as_of)
    scans = await _last_scans(session, ids, as_of)
    return BiotechWeekly(
        as_of=as_of,
        days=params.days,
        window_start=start,
        top_n=params.top_n,
        alerts_limit=params.alerts_limit,
        companies=[
            _company_week(
                c,
                stats.get(c.id, {}),
                alerts.get(c.id, {}),
                (then.get(c.id), now.get(c.id)),
                scans.get(c.id),
                start,
            )
            for c in companies
        ],
        material_events=await _material_events(session, ids, start, as_of, params.top_n),
        alerts=await _listed_alerts(session, ids, start, as_of, params.alerts_limit),
    )
