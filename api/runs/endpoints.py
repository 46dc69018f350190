"""GET /api/runs (list, statistics, one run), DELETE, rerun, and artifact downloads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime

from api.deps import CurrentUser, SessionDep, StateDep
from api.errors import ERROR_RESPONSES, ErrorOut
from api.runs import service
from api.runs.schemas import CancelAccepted, RunAccepted, RunOut, RunPage, RunStatisticsOut
from flowdesk.artifacts import MEDIA_TYPES, artifact_path
from flowdesk.db.models import JobType, Run, RunStatus
from flowdesk.errors import ArtifactArchived, InvalidRequest, NotFound

router = APIRouter(prefix="/api/runs", tags=["runs"])

# Defined here, not imported from api.screeners, which imports this module.
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=128,
        description="Retry-safe submission: the same key returns the same run.",
    ),
]


def accepted(run: Run, response: Response) -> RunAccepted:
    """The 202 body and Location header for a submitted run."""
    url = f"/api/runs/{run.id}"
    response.headers["Location"] = url
    return RunAccepted(
        run_id=run.id,
        status=run.status.value,
        job_type=run.job_type.value,
        url=url,
        prefect_flow_run_id=run.prefect_flow_run_id,
    )


def parse_statuses(values: list[str] | None) -> tuple[RunStatus, ...]:
    """`?status=failed&status=crashed` or `?status=failed,crashed`; 422 naming the bad one."""
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    allowed = [s.value for s in RunStatus]
    for name in names:
        if name not in allowed:
            raise InvalidRequest(
                f"unknown status {name!r}; allowed: {', '.join(allowed)}", field="status"
            )
    return tuple(dict.fromkeys(RunStatus(n) for n in names))


@router.get("", response_model=RunPage, responses=ERROR_RESPONSES)
async def list_runs(
    state: StateDep,
    session: SessionDep,
    user: CurrentUser,
    statuses: Annotated[
        list[str] | None,
        Query(
            alias="status",
            description="Repeat it or separate with commas: `status=failed,crashed`.",
        ),
    ] = None,
    job_type: JobType | None = None,
    schedule_id: uuid.UUID | None = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Created at or after (ISO 8601, with offset).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Created before (ISO 8601, with offset).")
    ] = None,
    owner: Annotated[
        str | None,
        Query(max_length=64, description="Admins only: one user's runs; others see none."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunPage:
    """The caller's runs, newest first (an admin's: everyone's), filtered and paged."""
    return await service.list_runs(
        state,
        session,
        user,
        owner=owner,
        statuses=parse_statuses(statuses),
        job_type=job_type,
        schedule_id=schedule_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


# Before /{run_id}, which would otherwise take "statistics" for a malformed run id.
@router.get("/statistics", response_model=RunStatisticsOut, responses=ERROR_RESPONSES)
async def run_statistics(
    session: SessionDep,
    user: CurrentUser,
    days: Annotated[int, Query(ge=1, le=365, description="The window: the last N days.")] = 30,
) -> RunStatisticsOut:
    """Counts, success rate and timing percentiles of the caller's runs over the last days.

    Scope: the caller's runs (an admin's: everyone's) created in the last `days` days.
    `success_rate` = completed / (completed + failed + crashed + dead_lettered), null when
    no run has ended that way. Per job type, `duration_seconds` = finished_at - started_at over runs
    that started and finished; `start_lateness_seconds` = started_at - (scheduled_for of
    a scheduled run, else created_at) over runs that started. Percentiles interpolate
    linearly between ranks, like numpy's default; null when there is nothing to measure.
    """
    return await service.statistics(session, user, days)


@router.get("/{run_id}", response_model=RunOut, responses=ERROR_RESPONSES)
async def get_run(
    run_id: uuid.UUID, state: StateDep, session: SessionDep, user: CurrentUser
) -> RunOut:
    """A run: status, snapshot, result, artifacts, error and its Prefect flow run."""
    return await service.read_run(state, session, user, run_id)


@router.delete(
    "/{run_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CancelAccepted,
    responses={
        **ERROR_RESPONSES,
        409: {"model": ErrorOut, "description": "The run has already finished"},
    },
)
async def cancel_run(
    run_id: uuid.UUID, state: StateDep, session: SessionDep, user: CurrentUser
) -> CancelAccepted:
    """Cancel a pending or running run through Prefect."""
    run, detail = await service.cancel(state, session, user, run_id)
    refreshed = await service.get_visible_run(session, user, run.id)
    return CancelAccepted(run_id=run.id, status=refreshed.status.value, detail=detail)


@router.post(
    "/{run_id}/rerun",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses={
        **ERROR_RESPONSES,
        409: {"model": ErrorOut, "description": "The run is still pending or running"},
    },
)
async def rerun_run(
    run_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Run a finished run again from its exact snapshot, as a new run of the same owner."""
    run = await service.rerun(state, session, user, run_id, idempotency_key)
    return accepted(run, response)


@router.get(
    "/{run_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {t: {} for t in MEDIA_TYPES.values()}},
        410: {"model": ErrorOut, "description": "Archived to cold storage; the detail says where"},
    },
)
async def download_artifact(
    run_id: uuid.UUID, name: str, session: SessionDep, user: CurrentUser
) -> FileResponse:
    """Download one artifact of a run."""
    run = await service.get_visible_run(session, user, run_id)
    listed = {a["name"]: a for a in run.artifacts or []}
    path = artifact_path(str(run.id), name) if name in listed else None
    if path is None and name in listed and listed[name].get("archived_to"):
        raise ArtifactArchived(
            f"run {run_id}'s artifact {name!r} was archived to {listed[name]['archived_to']}"
        )
    if path is None:
        raise NotFound(f"run {run_id} has no artifact {name!r}; the run lists its artifacts")
    return FileResponse(path, media_type=listed[name]["media_type"], filename=name)
