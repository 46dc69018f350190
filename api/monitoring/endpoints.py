"""GET /metrics (Prometheus, no key) and GET /stats (detailed statistics)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import CurrentUser, SessionDep, StateDep
from api.errors import ERROR_RESPONSES, ErrorOut
from api.monitoring import service
from api.monitoring.schemas import StatsOut

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {}},
            "description": "Every flowdesk_ metric in the Prometheus text format",
        },
        503: {"model": ErrorOut, "description": "The database is unavailable"},
    },
)
async def metrics(state: StateDep, session: SessionDep) -> Response:
    """Prometheus metrics: jobs, tasks, durations, workers, desk counts and errors."""
    body = await service.metrics_text(state, session)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/stats", response_model=StatsOut, responses=ERROR_RESPONSES)
async def stats(state: StateDep, session: SessionDep, user: CurrentUser) -> StatsOut:
    """Runs by status and job type, queues, workers, breakers, dead letters and the desk.

    Run numbers and dead letters are the caller's own runs (an admin's: everyone's);
    Prefect's numbers are null, with `prefect_error`, when Prefect cannot be reached.
    """
    return await service.statistics(state, session, user)
