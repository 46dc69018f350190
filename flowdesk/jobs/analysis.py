"""An analysis run: each company's news since its last scan, analysed, stored, alerted.

The snapshot fixes which companies, which source and which model version; the news is
what the source has when the run executes (a rerun picks up what arrived since, and the
stored fingerprints keep every story analysed once).

Per company, in order: read its last scan and risk score; fetch news since the last scan
(less an overlap of `OVERLAP`, for items that arrive late); drop stories already stored;
analyse; store insights, alerts, the risk score and the scan mark in one transaction;
then deliver the new alerts. A company whose source stays down after every retry is
reported, the others go on, and the run ends as a dead letter (DependencyUnavailable) so
it can be requeued once the source is back.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncEngine

from flowdesk import metrics
from flowdesk.biotech import store
from flowdesk.biotech.analysis import DEFAULT_PARAMETERS, analyze
from flowdesk.biotech.companies import Company, CompanyRegistry
from flowdesk.biotech.news.base import NewsSource
from flowdesk.db.desk import Alert, Insight
from flowdesk.db.engine import session_scope
from flowdesk.errors import DependencyUnavailable, InvalidRequest
from flowdesk.notifications.channels import AnyChannel
from flowdesk.notifications.deliver import AlertMessage, deliver
from flowdesk.runs.snapshots import snapshot_base
from flowdesk.settings import Settings

Scan = Literal["daily", "quick"]
SCANS: tuple[str, ...] = get_args(Scan)
# News published this long before the last scan is asked for again: feeds publish late.
OVERLAP = timedelta(days=2)
# A company's first scan looks back this far.
FIRST_LOOKBACK = timedelta(days=30)
# Undelivered alerts younger than this are tried again by each scan.
REDELIVER_WITHIN = timedelta(days=1)


def analysis_snapshot(
    scan: str,
    companies: Sequence[str] | None,
    registry: CompanyRegistry,
    settings: Settings,
    *,
    now: datetime,
    submitted_by: str,
    news_source: str | None = None,
) -> dict[str, Any]:
    """Which companies a scan covers (all active ones daily, the priority ones quickly),
    and from which news source (default: the configured one)."""
    news_source = news_source or settings.news_source
    if news_source == "backend" and not settings.api_base_url:
        raise InvalidRequest(
            "news_source 'backend' needs the Backend API's address: set API_BASE_URL, or "
            "use 'sample' or 'rss'",
            field="news_source",
        )
    if scan not in SCANS:
        raise InvalidRequest(f"unknown scan {scan!r}; one of: {', '.join(SCANS)}", field="scan")
    if companies:
        unknown = [c for c in companies if c not in registry]
        if unknown:
            known = ", ".join(c.id for c in registry.active())
            raise InvalidRequest(
                f"unknown companies {', '.join(unknown)}; known: {known}", field="companies"
            )
        ids = list(dict.fromkeys(registry.get(c).id for c in companies))
    else:
        ids = [c.id for c in (registry.active() if scan == "daily" else registry.priority())]
    return {
        **snapshot_base("analysis", submitted_by, now),
        "scan": scan,
        "companies": ids,
        "news_source": news_source,
        "model_version": DEFAULT_PARAMETERS.version,
    }


@dataclass
class CompanyOutcome:
    company_id: str
    received: int = 0
    duplicates: int = 0
    insights: int = 0
    alerts: int = 0
    alerts_delivered: int = 0
    risk: float | None = None
    risk_delta: float | None = None
    error: str | None = None
    seconds: float = 0.0
    event_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "company_id": self.company_id,
            "received": self.received,
            "duplicates": self.duplicates,
            "insights": self.insights,
            "alerts": self.alerts,
            "alerts_delivered": self.alerts_delivered,
            "risk": self.risk,
            "risk_delta": self.risk_delta,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "event_counts": self.event_counts,
        }


async def analyze_company(
    company: Company,
    *,
    run_id: uuid.UUID,
    source: NewsSource,
    engine: AsyncEngine,
    channels: Sequence[AnyChannel],
    now: datetime,
    scan: str,
) -> CompanyOutcome:
    """Scan one company; a source still down after its retries gives an outcome with
    `error` set (counted as an error and a failed task)."""
    started = time.perf_counter()
    outcome = CompanyOutcome(company_id=company.id)
    async with session_scope(engine) as session:
        state = await store.company_state(session, company.id)
    since = state.last_scanned_at - OVERLAP if state.last_scanned_at else now - FIRST_LOOKBACK
    try:
        items = await source.fetch(company, since)
    except DependencyUnavailable as exc:
        outcome.error, outcome.seconds = exc.detail, time.perf_counter() - started
        async with session_scope(engine) as session:
            await metrics.record_error(session, type(exc).__name__)
            await metrics.record_task(session, "analyze-company", "failed", outcome.seconds)
        return outcome
    async with session_scope(engine) as session:
        seen = await store.seen_fingerprints(session, company.id, {i.fingerprint for i in items})
        result = analyze(
            items,
            company_id=company.id,
            priority=company.priority,
            seen_fingerprints=seen,
            previous_risk=state.risk,
            previous_risk_at=state.risk_at,
            now=now,
        )
        alerts = await store.store_result(session, result, run_id)
        # Counted in the same transaction as the rows they count.
        await metrics.record_company_analyzed(session, scan)
        await metrics.record_insights(session, Counter(i.event_type.value for i in result.insights))
        await metrics.record_task(
            session, "analyze-company", "completed", time.perf_counter() - started
        )
    outcome.received, outcome.duplicates = result.received, result.duplicates
    outcome.insights, outcome.alerts = len(result.insights), len(alerts)
    outcome.risk, outcome.risk_delta = result.risk.score, result.risk.delta
    for insight in result.insights:
        kind = insight.event_type.value
        outcome.event_counts[kind] = outcome.event_counts.get(kind, 0) + 1
    for alert, row in alerts:
        message = alert_message(alert, row, company.name)
        if await _deliver(engine, alert.id, message, channels, now):
            outcome.alerts_delivered += 1
    outcome.seconds = time.perf_counter() - started
    return outcome


async def redeliver_pending(
    engine: AsyncEngine, registry: CompanyRegistry, channels: Sequence[AnyChannel], now: datetime
) -> int:
    """Try again the recent alerts that no channel took; how many got through."""
    if not channels:
        return 0
    async with session_scope(engine) as session:
        pending = await store.undelivered_alerts(session, now - REDELIVER_WITHIN, limit=100)
        insights = await store.insights_by_id(session, [a.insight_id for a in pending])
    delivered = 0
    for alert in pending:
        insight = insights.get(alert.insight_id)
        if insight is None:
            continue
        name = registry.get(alert.company_id).name if alert.company_id in registry else ""
        message = alert_message(alert, insight, name)
        if await _deliver(engine, alert.id, message, channels, now):
            delivered += 1
    return delivered


def alert_message(alert: Alert, insight: Insight, company_name: str) -> AlertMessage:
    """What a stored alert says on every channel."""
    return AlertMessage(
        alert_id=str(alert.id),
        company_id=alert.company_id,
        company_name=company_name,
        severity=alert.severity,
        event_type=insight.event_type,
        title=alert.title,
        url=insight.url,
        sentiment=insight.sentiment,
        materiality=insight.materiality,
        published_at=insight.published_at.isoformat(),
    )


async def _deliver(
    engine: AsyncEngine,
    alert_id: uuid.UUID,
    message: AlertMessage,
    channels: Sequence[AnyChannel],
    now: datetime,
) -> bool:
    records = await deliver(message, channels, dict(os.environ))
    if records:
        async with session_scope(engine) as session:
            await store.record_delivery(session, alert_id, records, now)
            for record in records:
                if not record["ok"]:
                    await metrics.record_error(session, "AlertNotDelivered")
    return any(record["ok"] for record in records)


def summarize(outcomes: Sequence[CompanyOutcome], redelivered: int) -> dict[str, Any]:
    """The run's result: totals, and each company's line."""
    failed = [o for o in outcomes if o.error]
    return {
        "companies": len(outcomes),
        "companies_failed": [o.company_id for o in failed],
        "insights": sum(o.insights for o in outcomes),
        "alerts": sum(o.alerts for o in outcomes),
        "alerts_delivered": sum(o.alerts_delivered for o in outcomes),
        "alerts_redelivered": redelivered,
        "duplicates": sum(o.duplicates for o in outcomes),
        "per_company": [o.to_dict() for o in outcomes],
    }


def dependency_failure(outcomes: Sequence[CompanyOutcome], source: str) -> DependencyUnavailable:
    """The run's error when some companies could not be fetched."""
    failed = [o for o in outcomes if o.error]
    return DependencyUnavailable(
        f"news:{source}",
        attempts=0,
        last_error=failed[-1].error or "",
        detail=f"news source {source!r} stayed unavailable for {len(failed)} of "
        f"{len(outcomes)} companies ({', '.join(o.company_id for o in failed)}): "
        f"{failed[-1].error}",
    )
