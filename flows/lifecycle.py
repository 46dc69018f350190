"""The run lifecycle inside a flow: claim the row, record the result, and state hooks.

Hooks write the terminal status. A flow killed with SIGKILL runs no hook;
the API's reconciler then takes the outcome from Prefect's state instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from prefect import Flow, get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging import get_run_logger
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_flow_run
from sqlalchemy.ext.asyncio import AsyncEngine

from flowdesk.db.engine import loop_engine, session_scope
from flowdesk.db.models import JobType, Run, RunStatus
from flowdesk.db.types import utcnow
from flowdesk.errors import DependencyUnavailable
from flowdesk.runs import repository
from flowdesk.runs.system import record_system_run
from flowdesk.schedules.ticks import record_tick


def engine() -> AsyncEngine:
    # Per event loop: hooks may run on another loop than the flow body.
    return loop_engine()


async def start(
    job_type: JobType, run_id: str | None, schedule: dict[str, Any] | None
) -> Run | None:
    """The run this flow run executes: an ad-hoc run it claims, or a schedule's tick it
    records now; None when there is nothing to do (already logged)."""
    if run_id is not None:
        return await claim(run_id)
    if schedule is None:
        raise ValueError("a flowdesk flow needs `run_id` or `schedule`")
    scheduled_for = current_flow_run.scheduled_start_time
    async with session_scope(engine()) as session:
        run = await record_tick(
            session,
            job_type=job_type,
            params=schedule,
            flow_run_id=uuid.UUID(str(current_flow_run.id)),
            deployment=f"{current_flow_run.flow_name}/{current_deployment.name}",
            scheduled_for=datetime.fromtimestamp(scheduled_for.timestamp(), UTC),
            now=utcnow(),
        )
    if run is None:
        get_run_logger().info(
            "schedule tick %s: nothing to run (see the run's reason)", scheduled_for
        )
    return run


async def start_system(
    job_type: JobType, target: str, snapshot: dict[str, Any], priority: str
) -> Run | None:
    """The run of a flow run Prefect started on its own (the desk's timetable, `prefect
    deployment run`), recorded now for the system user; None for a second flow run of
    the same tick."""
    flow_run_id = uuid.UUID(str(current_flow_run.id))
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
    tick = flow_run.expected_start_time if flow_run.auto_scheduled else None
    async with session_scope(engine()) as session:
        run = await record_system_run(
            session,
            job_type=job_type,
            target=target,
            snapshot=snapshot,
            priority=priority,
            flow_run_id=flow_run_id,
            deployment=f"{current_flow_run.flow_name}/{current_deployment.name}",
            tick=datetime.fromtimestamp(tick.timestamp(), UTC) if tick else None,
            now=utcnow(),
        )
    if run is None:
        get_run_logger().info("this tick is already recorded by another flow run: nothing to do")
    return run


async def claim(run_id: str) -> Run | None:
    """Take the pending run for this flow run; None (logged) if it is not pending."""
    flow_run_id = uuid.UUID(str(current_flow_run.id))
    async with session_scope(engine()) as session:
        run = await repository.claim(session, uuid.UUID(run_id), flow_run_id)
        if run is None:
            existing = await repository.get(session, uuid.UUID(run_id))
    if run is None:
        status = existing.status.value if existing else "missing"
        get_run_logger().warning("run %s is %s, not pending: nothing to do", run_id, status)
    return run


async def record_result(
    run_id: str, result: dict[str, Any], artifacts: list[dict[str, Any]]
) -> None:
    async with session_scope(engine()) as session:
        await repository.record_result(session, uuid.UUID(run_id), result, artifacts)


@asynccontextmanager
async def dead_letter_on_dependency_failure(run_id: str) -> AsyncIterator[None]:
    """A dependency still failing after every retry makes the run a dead letter, not a
    plain failure: the run is fine, the world was not, so it can be requeued as it is.
    The flow run still fails in Prefect, with the dependency's error."""
    try:
        yield
    except DependencyUnavailable as exc:
        async with session_scope(engine()) as session:
            await repository.finish(
                session,
                uuid.UUID(run_id),
                RunStatus.DEAD_LETTERED,
                error=f"{type(exc).__name__}: {exc.detail}",
            )
        get_run_logger().error("run %s dead-lettered: %s", run_id, exc.detail)
        raise


async def _finish(flow_run: FlowRun, state: State[Any], status: RunStatus) -> None:
    # The row this flow run claimed or recorded carries its id: ad-hoc and scheduled alike.
    error = None if status is RunStatus.COMPLETED else (state.message or state.name)
    async with session_scope(engine()) as session:
        await repository.finish(session, None, status, error=error, flow_run_id=flow_run.id)


async def on_completion(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    await _finish(flow_run, state, RunStatus.COMPLETED)


async def on_failure(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    await _finish(flow_run, state, RunStatus.FAILED)


async def on_cancellation(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    await _finish(flow_run, state, RunStatus.CANCELLED)


async def on_crashed(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    await _finish(flow_run, state, RunStatus.CRASHED)


HOOKS: dict[str, Any] = {
    "on_completion": [on_completion],
    "on_failure": [on_failure],
    "on_cancellation": [on_cancellation],
    "on_crashed": [on_crashed],
}
