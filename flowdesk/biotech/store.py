"""Every query of the desk's tables: what a scan reads before analysing, and what it stores."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.biotech.analysis import AnalysisResult
from flowdesk.db.desk import Alert, CompanyScan, Insight, RiskScore


@dataclass(frozen=True)
class CompanyState:
    """What a scan needs to know of a company before it fetches news."""

    last_scanned_at: datetime | None
    risk: float | None
    risk_at: datetime | None


async def company_state(session: AsyncSession, company_id: str) -> CompanyState:
    scan = await session.get(CompanyScan, company_id)
    latest = await latest_risk(session, company_id)
    return CompanyState(
        last_scanned_at=scan.last_scanned_at if scan else None,
        risk=latest.score if latest else None,
        risk_at=latest.computed_at if latest else None,
    )


async def latest_risk(session: AsyncSession, company_id: str) -> RiskScore | None:
    result = await session.execute(
        select(RiskScore)
        .where(RiskScore.company_id == company_id)
        .order_by(RiskScore.computed_at.desc(), RiskScore.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def seen_fingerprints(
    session: AsyncSession, company_id: str, fingerprints: Collection[str]
) -> set[str]:
    """Which of these stories the company already has insights for."""
    if not fingerprints:
        return set()
    result = await session.execute(
        select(Insight.fingerprint).where(
            Insight.company_id == company_id, Insight.fingerprint.in_(list(fingerprints))
        )
    )
    return set(result.scalars())


async def store_result(
    session: AsyncSession, result: AnalysisResult, run_id: uuid.UUID | None
) -> list[tuple[Alert, Insight]]:
    """The result's insights, alerts, risk score and scan mark; each new alert (flushed)
    with the insight row that raised it."""
    alerts: list[tuple[Alert, Insight]] = []
    for found in result.insights:
        insight = Insight(
            id=uuid.uuid4(),
            run_id=run_id,
            company_id=found.company_id,
            fingerprint=found.fingerprint,
            source=found.source,
            title=found.title,
            url=found.url,
            published_at=found.published_at,
            event_type=found.event_type.value,
            sentiment=found.sentiment,
            materiality=found.materiality,
            severity=found.severity.value if found.is_alert and found.severity else None,
            evidence=[ev.text for ev in found.evidence],
            created_at=result.analyzed_at,
        )
        session.add(insight)
        if insight.severity is not None:
            alert = Alert(
                id=uuid.uuid4(),
                insight_id=insight.id,
                run_id=run_id,
                company_id=found.company_id,
                severity=insight.severity,
                title=found.title,
                deliveries=[],
                created_at=result.analyzed_at,
            )
            alerts.append((alert, insight))
    await session.flush()  # insights before the alerts that reference them
    session.add_all(alert for alert, _ in alerts)
    risk = result.risk
    session.add(
        RiskScore(
            id=uuid.uuid4(),
            company_id=result.company_id,
            run_id=run_id,
            score=risk.score,
            previous=risk.previous,
            delta=risk.delta,
            drivers=risk.to_dict()["drivers"],
            computed_at=result.analyzed_at,
        )
    )
    scan = await session.get(CompanyScan, result.company_id)
    if scan is None:
        session.add(
            CompanyScan(
                company_id=result.company_id,
                last_scanned_at=result.analyzed_at,
                last_run_id=run_id,
            )
        )
    else:
        scan.last_scanned_at, scan.last_run_id = result.analyzed_at, run_id
    await session.flush()
    return alerts


async def record_delivery(
    session: AsyncSession, alert_id: uuid.UUID, deliveries: list[dict[str, Any]], now: datetime
) -> None:
    """Add delivery attempts to an alert; delivered once any channel took it."""
    alert = await session.get(Alert, alert_id)
    if alert is None:
        return
    alert.deliveries = [*alert.deliveries, *({**d, "at": now.isoformat()} for d in deliveries)]
    if alert.delivered_at is None and any(d["ok"] for d in deliveries):
        alert.delivered_at = now


async def undelivered_alerts(session: AsyncSession, since: datetime, limit: int) -> list[Alert]:
    """Alerts no channel has taken yet, oldest first (the next scan tries them again)."""
    result = await session.execute(
        select(Alert)
        .where(Alert.delivered_at.is_(None), Alert.created_at >= since)
        .order_by(Alert.created_at, Alert.id)
        .limit(limit)
    )
    return list(result.scalars())


async def insights_by_id(
    session: AsyncSession, insight_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Insight]:
    if not insight_ids:
        return {}
    result = await session.execute(select(Insight).where(Insight.id.in_(list(insight_ids))))
    return {insight.id: insight for insight in result.scalars()}


async def count_since(session: AsyncSession, model: Any, column: Any, since: datetime) -> int:
    result = await session.execute(select(func.count()).select_from(model).where(column >= since))
    return int(result.scalar_one())
