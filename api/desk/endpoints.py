"""The biotech desk: POST /api/analysis/run, GET /api/companies, /api/insights, /api/alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from api.deps import CurrentUser, SessionDep, StateDep
from api.desk import service
from api.desk.schemas import (
    AlertPage,
    AnalysisRunRequest,
    CompanyDetailOut,
    CompanyOut,
    InsightPage,
)
from api.errors import ERROR_RESPONSES
from api.runs.endpoints import IdempotencyKey, accepted
from api.runs.schemas import RunAccepted
from flowdesk.biotech import queries
from flowdesk.biotech.companies import get_companies

router = APIRouter(tags=["biotech desk"])

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0)]
CompanyId = Annotated[str | None, Query(max_length=16, description="A company id, e.g. GILD.")]
Since = Annotated[AwareDatetime | None, Query(description="At or after (ISO 8601, with offset).")]


@router.post(
    "/api/analysis/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses=ERROR_RESPONSES,
)
async def run_analysis(
    body: AnalysisRunRequest,
    state: StateDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Scan companies' news now (the daily analysis or the quick scan); answers at once."""
    run = await service.submit_analysis(
        state,
        user,
        scan=body.scan,
        companies=body.companies,
        priority=body.priority,
        news_source=body.news_source,
        idempotency_key=idempotency_key,
    )
    return accepted(run, response)


@router.get("/api/companies", response_model=list[CompanyOut], responses=ERROR_RESPONSES)
async def list_companies(session: SessionDep, user: CurrentUser) -> list[CompanyOut]:
    """The desk's companies with their current risk score and last scan."""
    return await service.list_companies(session)


@router.get(
    "/api/companies/{company_id}", response_model=CompanyDetailOut, responses=ERROR_RESPONSES
)
async def get_company(company_id: str, session: SessionDep, user: CurrentUser) -> CompanyDetailOut:
    """One company: risk score history and its most recent insights."""
    return await service.company_detail(session, company_id)


@router.get("/api/insights", response_model=InsightPage, responses=ERROR_RESPONSES)
async def list_insights(
    session: SessionDep,
    user: CurrentUser,
    company: CompanyId = None,
    event_type: Annotated[str | None, Query(max_length=32)] = None,
    alerts_only: bool = False,
    min_materiality: Annotated[float | None, Query(ge=0, le=1)] = None,
    since: Since = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> InsightPage:
    """Analysed news items, newest published first."""
    company_id = get_companies().get(company).id if company else None
    rows, total = await queries.insights_page(
        session,
        queries.InsightFilter(
            company_id=company_id,
            event_type=event_type,
            alerts_only=alerts_only,
            min_materiality=min_materiality,
            since=since,
        ),
        limit=limit,
        offset=offset,
    )
    return InsightPage(
        items=[service.insight_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/api/alerts", response_model=AlertPage, responses=ERROR_RESPONSES)
async def list_alerts(
    session: SessionDep,
    user: CurrentUser,
    company: CompanyId = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    delivered: Annotated[
        bool | None, Query(description="false: alerts no channel has taken yet.")
    ] = None,
    since: Since = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AlertPage:
    """Alerts raised by significant insights, newest first, with their deliveries."""
    company_id = get_companies().get(company).id if company else None
    rows, total = await queries.alerts_page(
        session,
        queries.AlertFilter(
            company_id=company_id, severity=severity, delivered=delivered, since=since
        ),
        limit=limit,
        offset=offset,
    )
    return AlertPage(
        items=[service.alert_out(a, i) for a, i in rows], total=total, limit=limit, offset=offset
    )
