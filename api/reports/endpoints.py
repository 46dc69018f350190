"""POST /api/reports/run and GET /api/reports/types."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import ValidationError

from api.deps import CurrentUser, StateDep
from api.errors import ERROR_RESPONSES, field_errors, invalid_request
from api.reports.schemas import ReportRunRequest, ReportType
from api.runs import service
from api.runs.endpoints import IdempotencyKey, accepted
from api.runs.schemas import RunAccepted
from flowdesk.db.models import JobType
from flowdesk.reports.registry import REPORT_TYPES, parse_report_params
from flowdesk.runs.snapshots import report_snapshot

router = APIRouter(prefix="/api/reports", tags=["reports"])


@router.get("/types", response_model=list[ReportType], responses=ERROR_RESPONSES)
async def list_report_types(user: CurrentUser) -> list[ReportType]:
    """The report types and the parameters each accepts."""
    return [ReportType(name=n, parameters=m.model_json_schema()) for n, m in REPORT_TYPES.items()]


@router.post(
    "/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses=ERROR_RESPONSES,
)
async def run_report(
    body: ReportRunRequest,
    state: StateDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Run a report now; answers at once with the run id."""
    try:
        params = parse_report_params(body.report_type, body.parameters)
    except ValidationError as exc:
        raise invalid_request(field_errors(exc.errors(), prefix="parameters")) from exc
    snapshot = report_snapshot(
        report_type=body.report_type, parameters=params.model_dump(), submitted_by=user.name
    )
    run = await service.submit(
        state,
        user,
        job_type=JobType.REPORT,
        target=body.report_type,
        snapshot=snapshot,
        priority=body.priority,
        idempotency_key=idempotency_key,
    )
    return accepted(run, response)
