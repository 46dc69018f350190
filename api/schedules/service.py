"""Creating, editing, pausing, deleting and listing schedules, with their Prefect side."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.runs import service as runs_service
from api.schedules.schemas import DeploymentLink, ScheduleIn, ScheduleOut
from api.state import AppState
from flowdesk.accounts.service import Principal
from flowdesk.db.models import JobType, Run, Schedule, User
from flowdesk.errors import (
    InvalidRequest,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleQuotaExceeded,
)
from flowdesk.schedules import deployments, repository
from flowdesk.schedules.calendars import validate_calendar
from flowdesk.schedules.durations import format_duration, parse_duration
from flowdesk.schedules.params import resolve_snapshot, validate_task
from flowdesk.schedules.timing import (
    check_min_interval,
    next_fire_times,
    validate_cron,
    validate_timezone,
)
from flowdesk.settings import Settings

PREVIEW = 5


@dataclass(frozen=True)
class Definition:
    """A schedule request once every field is checked and normalised."""

    name: str
    job_type: JobType
    target: str
    task_params: dict[str, Any]
    cron: str
    timezone: str
    calendar: str | None
    catchup: str
    stale_after_seconds: int
    priority: str
    enabled: bool


async def validate(state: AppState, body: ScheduleIn) -> Definition:
    """Every check a schedule must pass; each failure is a 422 naming its field."""
    settings = state.settings
    cron = validate_cron(body.cron)
    timezone = validate_timezone(body.timezone)
    calendar = validate_calendar(body.calendar) if body.calendar else None
    await check_min_interval(
        cron, timezone, timedelta(seconds=settings.schedule_min_interval_seconds)
    )
    stale_after = parse_duration(body.stale_after, field="stale_after")
    job_type = JobType(body.job_type)
    task_params = validate_task(job_type, body.target, body.task_params, state.catalog.get())
    if calendar and not await next_fire_times(cron, timezone, 1, calendar=calendar):
        raise InvalidRequest(
            f"cron {cron!r} never fires on a {calendar} trading day in the next two years",
            field="calendar",
        )
    return Definition(
        name=body.name.strip(),
        job_type=job_type,
        target=body.target,
        task_params=task_params,
        cron=cron,
        timezone=timezone,
        calendar=calendar,
        catchup=body.catchup,
        stale_after_seconds=int(stale_after.total_seconds()),
        priority=body.priority,
        enabled=body.enabled,
    )


def _slug(owner: str, name: str, schedule_id: uuid.UUID) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "schedule"
    return f"{owner}-{words}-{schedule_id.hex[:8]}"


def _spec(schedule: Schedule, owner: str) -> deployments.DeploymentSpec:
    """The Prefect deployment of a schedule; its parameters are what each tick runs."""
    return deployments.DeploymentSpec(
        name=schedule.slug,
        job_type=schedule.job_type,
        cron=schedule.cron,
        timezone=schedule.timezone,
        active=schedule.enabled,
        parameters={
            "schedule": {
                "schedule_id": str(schedule.id),
                "owner": owner,
                "target": schedule.target,
                "task_params": schedule.task_params,
            }
        },
        work_queue=schedule.priority,
        description=f"flowdesk schedule {schedule.name!r} of {owner}",
        tags=["flowdesk", "schedule", f"job:{schedule.job_type.value}", f"owner:{owner}"],
    )


def _apply(schedule: Schedule, definition: Definition) -> None:
    schedule.name = definition.name
    schedule.target = definition.target
    schedule.task_params = definition.task_params
    schedule.cron = definition.cron
    schedule.timezone = definition.timezone
    schedule.calendar = definition.calendar
    schedule.catchup = definition.catchup
    schedule.stale_after_seconds = definition.stale_after_seconds
    schedule.priority = definition.priority
    schedule.enabled = definition.enabled


async def _ensure_name_free(
    session: AsyncSession, owner_id: uuid.UUID, name: str, schedule_id: uuid.UUID | None
) -> None:
    existing = await repository.get_by_name(session, owner_id, name)
    if existing is not None and existing.id != schedule_id:
        raise ScheduleExists(f"you already have a schedule named {name!r}; pick another name")


async def create(
    state: AppState, session: AsyncSession, principal: Principal, body: ScheduleIn
) -> Schedule:
    """Save the schedule and create its Prefect deployment."""
    definition = await validate(state, body)
    owner_id = uuid.UUID(principal.user_id)
    quota = state.settings.schedule_quota
    if await repository.count_for_owner(session, owner_id) >= quota:
        raise ScheduleQuotaExceeded(
            f"you have {quota} schedules, the most allowed (FLOWDESK_SCHEDULE_QUOTA); "
            "delete one first"
        )
    await _ensure_name_free(session, owner_id, definition.name, None)
    schedule_id = uuid.uuid4()
    schedule = Schedule(
        id=schedule_id,
        owner_id=owner_id,
        job_type=definition.job_type,
        slug=_slug(principal.name, definition.name, schedule_id),
    )
    _apply(schedule, definition)
    await repository.add(session, schedule)
    client = state.prefect.client
    schedule.prefect_deployment_id = await state.prefect.call(
        "creating the schedule's deployment",
        deployments.create(client, _spec(schedule, principal.name)),
    )
    await session.flush()
    return schedule


async def get_visible(
    session: AsyncSession, principal: Principal, schedule_id: uuid.UUID
) -> Schedule:
    """The schedule if the caller owns it (or is admin); another user's is 'not found'."""
    schedule = await repository.get(session, schedule_id)
    if schedule is None or (not principal.is_admin and str(schedule.owner_id) != principal.user_id):
        raise ScheduleNotFound(f"no schedule {schedule_id}")
    return schedule


async def update(
    state: AppState,
    session: AsyncSession,
    principal: Principal,
    schedule_id: uuid.UUID,
    body: ScheduleIn,
) -> Schedule:
    """Replace the definition; Prefect drops the old future runs and schedules the new ones."""
    schedule = await get_visible(session, principal, schedule_id)
    definition = await validate(state, body)
    if definition.job_type is not schedule.job_type:
        raise InvalidRequest(
            f"job_type cannot change ({schedule.job_type.value} → {definition.job_type.value}); "
            "create a new schedule instead",
            field="job_type",
        )
    await _ensure_name_free(session, schedule.owner_id, definition.name, schedule.id)
    _apply(schedule, definition)
    await session.flush()
    owner = await _owner_name(session, schedule)
    spec = _spec(schedule, owner)
    if schedule.prefect_deployment_id is None:
        schedule.prefect_deployment_id = await state.prefect.call(
            "creating the schedule's deployment", deployments.create(state.prefect.client, spec)
        )
    else:
        await state.prefect.call(
            "updating the schedule's deployment",
            deployments.update(state.prefect.client, schedule.prefect_deployment_id, spec),
        )
        state.prefect.in_background(
            f"sweeping stale runs of deployment {schedule.prefect_deployment_id}",
            deployments.sweep_stale_runs(state.prefect.client, schedule.prefect_deployment_id),
        )
    return schedule


async def delete(
    state: AppState, session: AsyncSession, principal: Principal, schedule_id: uuid.UUID
) -> None:
    """Remove the schedule, its deployment and its future runs; its run history stays."""
    schedule = await get_visible(session, principal, schedule_id)
    if schedule.prefect_deployment_id is not None:
        await state.prefect.call(
            "deleting the schedule's deployment",
            deployments.delete(state.prefect.client, schedule.prefect_deployment_id),
        )
    await repository.delete(session, schedule)


async def trigger(
    state: AppState,
    session: AsyncSession,
    principal: Principal,
    schedule: Schedule,
    idempotency_key: str | None,
) -> Run:
    """A run now with the schedule's parameters, owned by the schedule's owner."""
    owner = await _owner_name(session, schedule)
    snapshot = resolve_snapshot(
        schedule.job_type,
        schedule.target,
        schedule.task_params,
        catalog=state.catalog.get(),
        settings=state.settings,
        submitted_by=f"schedule {schedule.name!r} of {owner}, triggered by {principal.name}",
    )
    return await runs_service.submit(
        state,
        Principal(user_id=str(schedule.owner_id), name=owner, is_admin=False),
        job_type=schedule.job_type,
        target=schedule.target,
        snapshot=snapshot,
        priority=schedule.priority,
        idempotency_key=idempotency_key,
        schedule_id=schedule.id,
        deployment=(
            f"{schedule.job_type.value}/{schedule.slug}" if schedule.prefect_deployment_id else None
        ),
        requested_by=principal.name,
    )


async def _owner_name(session: AsyncSession, schedule: Schedule) -> str:
    owner = await session.get(User, schedule.owner_id)
    return owner.name if owner else "?"


async def to_out(session: AsyncSession, settings: Settings, schedule: Schedule) -> ScheduleOut:
    fire_times = (
        await next_fire_times(schedule.cron, schedule.timezone, PREVIEW, calendar=schedule.calendar)
        if schedule.enabled
        else []
    )
    deployment_id = schedule.prefect_deployment_id
    flow_name = schedule.job_type.value
    return ScheduleOut(
        id=schedule.id,
        name=schedule.name,
        slug=schedule.slug,
        owner=await _owner_name(session, schedule),
        job_type=schedule.job_type.value,
        target=schedule.target,
        task_params=schedule.task_params,
        cron=schedule.cron,
        timezone=schedule.timezone,
        calendar=schedule.calendar,
        catchup=schedule.catchup,
        stale_after=format_duration(timedelta(seconds=schedule.stale_after_seconds)),
        priority=schedule.priority,
        enabled=schedule.enabled,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
        next_fire_times=fire_times,
        prefect=DeploymentLink(
            deployment_id=deployment_id,
            deployment_name=f"{flow_name}/{schedule.slug}",
            ui_url=(
                f"{settings.prefect_ui}/deployments/deployment/{deployment_id}"
                if deployment_id
                else None
            ),
        ),
    )
