"""A flowdesk schedule's own Prefect deployment: created, edited, paused and deleted.

Each schedule gets a deployment of its job's flow with exactly one cron schedule, because
editing, pausing or deleting any schedule of a deployment deletes every future run of
that deployment (shared/DESIGN.md): one deployment each keeps one user's edit away from
everyone else's runs. The schedule carries a slug, or `prefect deploy` would wipe it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate, DeploymentUpdate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound

from flowdesk.db.models import JobType
from flowdesk.runs.submission import ADHOC_DEPLOYMENTS
from flowdesk.schedules.timing import MAX_FIRE_TIMES, next_fire_times

SCHEDULE_SLUG = "flowdesk-cron"

# When to look again for runs a scheduler pass generated from the definition an edit
# replaced (seconds after the edit): after a pass of Prefect's recent-deployments loop.
STALE_SWEEP_DELAYS = (2.0, 8.0, 20.0)


@dataclass(frozen=True)
class DeploymentSpec:
    """What Prefect needs to run one flowdesk schedule."""

    name: str
    job_type: JobType
    cron: str
    timezone: str
    active: bool
    parameters: dict[str, Any]
    work_queue: str
    description: str
    tags: list[str] = field(default_factory=list)

    @property
    def schedule(self) -> CronSchedule:
        return CronSchedule(cron=self.cron, timezone=self.timezone)

    def schedule_create(self) -> DeploymentScheduleCreate:
        return DeploymentScheduleCreate(
            schedule=self.schedule,
            active=self.active,
            parameters=self.parameters,
            slug=SCHEDULE_SLUG,
        )


async def create(client: PrefectClient, spec: DeploymentSpec) -> uuid.UUID:
    """A new deployment for the schedule, modelled on the job's ad-hoc deployment."""
    # The ad-hoc deployment from prefect.yaml says where the code is and how to pull it.
    adhoc = await client.read_deployment_by_name(ADHOC_DEPLOYMENTS[spec.job_type])
    deployment_id = await client.create_deployment(
        flow_id=adhoc.flow_id,
        name=spec.name,
        entrypoint=adhoc.entrypoint,
        path=adhoc.path,
        pull_steps=adhoc.pull_steps,
        work_pool_name=adhoc.work_pool_name,
        work_queue_name=spec.work_queue,
        parameter_openapi_schema=adhoc.parameter_openapi_schema,
        parameters={},
        description=spec.description,
        tags=spec.tags,
        schedules=[spec.schedule_create()],
    )
    if spec.active:
        await schedule_upcoming(client, deployment_id)
    return deployment_id


async def update(client: PrefectClient, deployment_id: uuid.UUID, spec: DeploymentSpec) -> None:
    """Make the deployment follow the schedule; Prefect drops the old future runs."""
    deployment = await client.read_deployment(deployment_id)
    await client.update_deployment(
        deployment_id,
        DeploymentUpdate(
            work_queue_name=spec.work_queue, description=spec.description, tags=spec.tags
        ),
    )
    ours = [s for s in deployment.schedules if s.slug == SCHEDULE_SLUG]
    if ours:
        await client.update_deployment_schedule(
            deployment_id,
            ours[0].id,
            active=spec.active,
            schedule=spec.schedule,
            parameters=spec.parameters,
        )
    else:  # someone removed it in the Prefect UI: put it back
        await client.create_deployment_schedules(deployment_id, [spec.schedule_create()])
    if spec.active:
        await schedule_upcoming(client, deployment_id)
    await drop_stale_runs(client, deployment_id)


async def sweep_stale_runs(
    client: PrefectClient,
    deployment_id: uuid.UUID,
    delays: tuple[float, ...] = STALE_SWEEP_DELAYS,
) -> None:
    """Run `drop_stale_runs` again after each delay (seconds after the edit).

    Prefect's scheduler reads a deployment's schedules and inserts the runs it generated
    in two separate transactions. A pass that read the definition just before an edit
    inserts runs of the old cron after the edit's own clean-up; the flow would record
    such a tick `skipped`, but it must not sit in the Prefect UI as an upcoming run.
    Such an insert lands within one pass of the scheduler, so sweeping again after a
    pass of its recent-deployments loop (5 s by default) removes it.
    """
    elapsed = 0.0
    for delay in delays:
        await anyio.sleep(max(0.0, delay - elapsed))
        elapsed = delay
        try:
            await drop_stale_runs(client, deployment_id)
        except ObjectNotFound:
            return  # the schedule was deleted meanwhile: nothing left to sweep


async def drop_stale_runs(client: PrefectClient, deployment_id: uuid.UUID) -> None:
    """Delete future auto-scheduled runs that are not ticks of the schedule as it is now.

    "As it is now" is read back from Prefect, not taken from the caller, so a sweep that
    runs after a later edit judges runs by the latest definition.
    """
    deployment = await client.read_deployment(deployment_id)
    ours = [s for s in deployment.schedules if s.slug == SCHEDULE_SLUG]
    cron = ours[0].schedule if ours else None
    active = bool(ours and ours[0].active and isinstance(cron, CronSchedule))
    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
    )
    now = datetime.now(UTC)
    future = [
        r
        for r in runs
        if r.auto_scheduled and r.expected_start_time and r.expected_start_time > now
    ]
    if not future:
        return
    ticks: set[datetime] = set()
    if active and isinstance(cron, CronSchedule):
        last = max(r.expected_start_time for r in future if r.expected_start_time)
        timezone = cron.timezone or "UTC"
        ticks = set(await next_fire_times(cron.cron, timezone, MAX_FIRE_TIMES, after=now))
        ticks = {t for t in ticks if t <= last}
    for flow_run in future:
        if flow_run.expected_start_time not in ticks:
            try:
                await client.delete_flow_run(flow_run.id)
            except ObjectNotFound:
                pass


async def delete(client: PrefectClient, deployment_id: uuid.UUID) -> None:
    """Remove the deployment and its scheduled runs; finished runs stay in Prefect."""
    try:
        await client.delete_deployment(deployment_id)
    except ObjectNotFound:
        pass


async def schedule_upcoming(client: PrefectClient, deployment_id: uuid.UUID) -> None:
    """Create the next runs now instead of in the scheduler's next loop (every 60 s).

    An edit deletes the deployment's future runs; without this, a tick due before the
    scheduler's next pass would start late. The runs get the scheduler's own idempotency
    keys, so its next pass adds no duplicates.
    """
    await client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment_id})
