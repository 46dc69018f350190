"""The desk's rules for the API: submitting scans, and reading companies' state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.desk.schemas import AlertOut, CompanyDetailOut, CompanyOut, InsightOut, RiskOut
from api.runs import service as runs_service
from api.state import AppState
from flowdesk.accounts.service import Principal
from flowdesk.biotech import queries
from flowdesk.biotech.companies import Company, get_companies
from flowdesk.db.desk import Alert, Insight, RiskScore
from flowdesk.db.models import JobType, Run
from flowdesk.db.types import utcnow
from flowdesk.jobs.analysis import analysis_snapshot

HISTORY_POINTS = 30
RECENT_INSIGHTS = 20


async def submit_analysis(
    state: AppState,
    principal: Principal,
    *,
    scan: str,
    companies: list[str] | None,
    priority: str | None,
    news_source: str | None,
    idempotency_key: str | None,
) -> Run:
    snapshot = analysis_snapshot(
        scan,
        companies,
        get_companies(),
        state.settings,
        now=utcnow(),
        submitted_by=principal.name,
        news_source=news_source,
    )
    return await runs_service.submit(
        state,
        principal,
        job_type=JobType.ANALYSIS,
        target=scan,
        snapshot=snapshot,
        priority=priority or ("high" if scan == "quick" else "default"),
        idempotency_key=idempotency_key,
    )


async def list_companies(session: AsyncSession) -> list[CompanyOut]:
    risks, scans = await queries.latest_risks(session), await queries.last_scans(session)
    return [
        company_out(company, risks.get(company.id), scans.get(company.id))
        for company in get_companies().all()
    ]


async def company_detail(session: AsyncSession, company_id: str) -> CompanyDetailOut:
    company = get_companies().get(company_id)  # CompanyNotFound: 404 naming the known ids
    history = await queries.risk_history(session, company.id, HISTORY_POINTS)
    scans = await queries.last_scans(session)
    insights, _ = await queries.insights_page(
        session, queries.InsightFilter(company_id=company.id), limit=RECENT_INSIGHTS, offset=0
    )
    base = company_out(company, history[0] if history else None, scans.get(company.id))
    return CompanyDetailOut(
        **base.model_dump(),
        risk_history=[risk_out(row) for row in history],
        recent_insights=[insight_out(row) for row in insights],
    )


def company_out(company: Company, risk: RiskScore | None, scanned: datetime | None) -> CompanyOut:
    return CompanyOut(
        id=company.id,
        name=company.name,
        priority=company.priority.value,
        is_priority=company.is_priority,
        active=company.active,
        analysis_frequency=company.analysis_frequency.value,
        aliases=list(company.aliases),
        risk=risk_out(risk) if risk else None,
        last_scanned_at=scanned,
    )


def risk_out(row: RiskScore) -> RiskOut:
    return RiskOut(
        score=row.score,
        previous=row.previous,
        delta=row.delta,
        computed_at=row.computed_at,
        drivers=row.drivers,
    )


def insight_out(row: Insight) -> InsightOut:
    return InsightOut.model_validate(row, from_attributes=True)


def alert_out(alert: Alert, insight: Insight) -> AlertOut:
    return AlertOut(
        id=alert.id,
        company_id=alert.company_id,
        severity=alert.severity,
        title=alert.title,
        event_type=insight.event_type,
        url=insight.url,
        created_at=alert.created_at,
        delivered_at=alert.delivered_at,
        deliveries=alert.deliveries,
        insight_id=alert.insight_id,
        run_id=alert.run_id,
    )
