"""POST /api/screeners/run."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CurrentUser, StateDep
from api.errors import ERROR_RESPONSES
from api.runs import service
from api.runs.endpoints import IdempotencyKey, accepted
from api.runs.schemas import RunAccepted
from api.screeners.schemas import ScreenerRunRequest
from flowdesk.db.models import JobType
from flowdesk.runs.snapshots import screener_snapshot

router = APIRouter(prefix="/api/screeners", tags=["screeners"])


@router.post(
    "/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses=ERROR_RESPONSES,
)
async def run_screener(
    body: ScreenerRunRequest,
    state: StateDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Run a screener now; answers at once with the run id."""
    snapshot = screener_snapshot(
        catalog=state.catalog.get(),
        settings=state.settings,
        submitted_by=user.name,
        screener_set=body.screener_set,
        tickers=body.tickers,
        preset=body.preset,
        criteria=body.filter_criteria,
        top_n=body.top_n,
    )
    run = await service.submit(
        state,
        user,
        job_type=JobType.SCREENER,
        target=body.screener_set,
        snapshot=snapshot,
        priority=body.priority,
        idempotency_key=idempotency_key,
    )
    return accepted(run, response)
