"""GET and DELETE /api/runs/{run_id}, and artifact downloads."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from fastapi.responses import FileResponse

from api.deps import CurrentUser, SessionDep, StateDep
from api.errors import ERROR_RESPONSES, ErrorOut
from api.runs import service
from api.runs.schemas import CancelAccepted, RunAccepted, RunOut
from flowdesk.artifacts import MEDIA_TYPES, artifact_path
from flowdesk.db.models import Run
from flowdesk.errors import NotFound

router = APIRouter(prefix="/api/runs", tags=["runs"])


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


@router.get(
    "/{run_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={**ERROR_RESPONSES, 200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
)
async def download_artifact(
    run_id: uuid.UUID, name: str, session: SessionDep, user: CurrentUser
) -> FileResponse:
    """Download one artifact of a run."""
    run = await service.get_visible_run(session, user, run_id)
    listed = {a["name"]: a for a in run.artifacts or []}
    path = artifact_path(str(run.id), name) if name in listed else None
    if path is None:
        raise NotFound(f"run {run_id} has no artifact {name!r}; the run lists its artifacts")
    return FileResponse(path, media_type=listed[name]["media_type"], filename=name)
