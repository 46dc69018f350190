"""/api/schedules: create, list, read, replace, delete and trigger schedules."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentUser, SessionDep, StateDep
from api.errors import ERROR_RESPONSES, ErrorOut
from api.runs.endpoints import IdempotencyKey, accepted
from api.runs.schemas import RunAccepted
from api.schedules import service
from api.schedules.schemas import ScheduleIn, ScheduleOut, SchedulePage
from flowdesk.db.models import JobType
from flowdesk.schedules import repository

router = APIRouter(prefix="/api/schedules", tags=["schedules"])

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Name taken, or quota reached"}
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleOut,
    responses={**ERROR_RESPONSES, **CONFLICT},
)
async def create_schedule(
    body: ScheduleIn, state: StateDep, session: SessionDep, user: CurrentUser, response: Response
) -> ScheduleOut:
    """Create a schedule: its own Prefect deployment with one cron schedule."""
    schedule = await service.create(state, session, user, body)
    response.headers["Location"] = f"/api/schedules/{schedule.id}"
    return await service.to_out(session, state.settings, schedule)


@router.get("", response_model=SchedulePage, responses=ERROR_RESPONSES)
async def list_schedules(
    state: StateDep,
    session: SessionDep,
    user: CurrentUser,
    job_type: Literal["screener", "report"] | None = None,
    enabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SchedulePage:
    """Your schedules (an admin's: everyone's), newest first."""
    schedules, total = await repository.page(
        session,
        owner_id=None if user.is_admin else uuid.UUID(user.user_id),
        job_type=JobType(job_type) if job_type else None,
        enabled=enabled,
        limit=limit,
        offset=offset,
    )
    items = [await service.to_out(session, state.settings, s) for s in schedules]
    return SchedulePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{schedule_id}", response_model=ScheduleOut, responses=ERROR_RESPONSES)
async def get_schedule(
    schedule_id: uuid.UUID, state: StateDep, session: SessionDep, user: CurrentUser
) -> ScheduleOut:
    """A schedule with its next fire times and Prefect deployment."""
    schedule = await service.get_visible(session, user, schedule_id)
    return await service.to_out(session, state.settings, schedule)


@router.put("/{schedule_id}", response_model=ScheduleOut, responses={**ERROR_RESPONSES, **CONFLICT})
async def replace_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleIn,
    state: StateDep,
    session: SessionDep,
    user: CurrentUser,
) -> ScheduleOut:
    """Replace a schedule; `enabled: false` pauses it, `true` resumes it."""
    schedule = await service.update(state, session, user, schedule_id, body)
    return await service.to_out(session, state.settings, schedule)


@router.post(
    "/{schedule_id}/trigger",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses=ERROR_RESPONSES,
)
async def trigger_schedule(
    schedule_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Run a schedule now with its parameters; the run records the schedule id."""
    schedule = await service.get_visible(session, user, schedule_id)
    run = await service.trigger(state, session, user, schedule, idempotency_key)
    return accepted(run, response)


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERROR_RESPONSES)
async def delete_schedule(
    schedule_id: uuid.UUID, state: StateDep, session: SessionDep, user: CurrentUser
) -> Response:
    """Delete a schedule and its future runs; its run history stays."""
    await service.delete(state, session, user, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
