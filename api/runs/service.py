"""Submitting, reading and cancelling runs on behalf of a user."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.runs.schemas import RunOut, RunPage, RunStatisticsOut, RunSummary
from api.state import AppState
from flowdesk.accounts.service import Principal
from flowdesk.db.models import JobType, Run, RunStatus, User
from flowdesk.db.types import utcnow
from flowdesk.errors import (
    InvalidRequest,
    RunNotCancellable,
    RunNotFound,
    RunNotRerunnable,
    ServiceUnavailable,
)
from flowdesk.runs import repository
from flowdesk.runs.reconcile import reconcile_run
from flowdesk.runs.statistics import summarize

logger = logging.getLogger(__name__)


async def submit(
    state: AppState,
    principal: Principal,
    *,
    job_type: JobType,
    target: str | None,
    snapshot: dict[str, Any],
    priority: str,
    idempotency_key: str | None,
    rerun_of: uuid.UUID | None = None,
    schedule_id: uuid.UUID | None = None,
    deployment: str | None = None,
    requested_by: str | None = None,
) -> Run:
    """Insert the run, then have its Prefect flow run created (`Submitter`): right after
    the answer while Prefect accepts flow runs, else within the call, 503 and no row if
    Prefect fails.

    The run belongs to `principal`. The insert is committed in its own unit of work before
    Prefect is called, because the flow run may start (and claim the row) before this
    request returns. Every run goes to its job type's ad-hoc deployment, reruns included.
    `requested_by` names who asked when that is not the owner (an admin); it becomes a tag.
    """
    owner_id = uuid.UUID(principal.user_id)
    run = Run(
        id=uuid.uuid4(),
        owner_id=owner_id,
        job_type=job_type,
        target=target,
        status=RunStatus.PENDING,
        priority=priority,
        snapshot=snapshot,
        artifacts=[],
        idempotency_key=idempotency_key,
        rerun_of=rerun_of,
        schedule_id=schedule_id,
        prefect_deployment=deployment,
    )
    async with state.sessions() as session:
        if idempotency_key is not None:
            existing = await repository.get_by_idempotency_key(session, owner_id, idempotency_key)
            if existing is not None:
                return existing
        try:
            await repository.add(session, run)
            await session.commit()
        except IntegrityError:
            # A concurrent request with the same idempotency key won the insert.
            await session.rollback()
            if idempotency_key is None:
                raise
            existing = await repository.get_by_idempotency_key(session, owner_id, idempotency_key)
            if existing is None:
                raise
            return existing

    try:
        return await state.submitter.submit(run, principal.name, requested_by)
    except ServiceUnavailable:
        async with state.sessions() as session:
            removed = await repository.delete_if_pending(session, run.id)
            await session.commit()
        if removed:
            raise
        # The flow run did get created and has claimed the row: the submission stands.
        logger.warning("Prefect call for run %s failed but its flow run claimed it", run.id)
        return run


async def get_visible_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> Run:
    """The run if the caller owns it (or is admin); another user's run is 'not found'."""
    run = await repository.get(session, run_id)
    if run is None or (not principal.is_admin and str(run.owner_id) != principal.user_id):
        raise RunNotFound(f"no run {run_id}")
    return run


async def read_run(
    state: AppState, session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> RunOut:
    """The run, first reconciled with Prefect if it has been open a while."""
    run = await get_visible_run(session, principal, run_id)
    stale = utcnow() - run.updated_at > timedelta(seconds=state.settings.reconcile_after_seconds)
    if not run.status.is_terminal and stale:
        try:
            run = await _refresh_from_prefect(state, session, principal, run)
        except ServiceUnavailable as exc:
            # Reading a run must work while Prefect is down; the status may lag.
            logger.warning("could not reconcile run %s: %s", run_id, exc.detail)
    return await to_out(session, state, principal, run)


async def _refresh_from_prefect(
    state: AppState, session: AsyncSession, principal: Principal, run: Run
) -> Run:
    """The run after applying Prefect's terminal state, re-read whatever that changed:
    a hook may have finished the row meanwhile."""
    await reconcile_run(session, state.prefect, run)
    return await get_visible_run(session, principal, run.id)


async def to_out(session: AsyncSession, state: AppState, principal: Principal, run: Run) -> RunOut:
    if str(run.owner_id) == principal.user_id:
        owner_name = principal.name
    else:  # an admin reading someone else's run
        owner = await session.get(User, run.owner_id)
        owner_name = owner.name if owner else "?"
    return RunOut.from_run(run, owner_name, state.settings.prefect_ui)


async def cancel(
    state: AppState, session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> tuple[Run, str]:
    """Cancel a pending or running run; a finished one is a 409."""
    run = await get_visible_run(session, principal, run_id)
    if run.status.is_terminal:
        raise RunNotCancellable(
            f"run {run_id} already finished ({run.status.value}); only pending or running "
            "runs can be cancelled"
        )
    reason = f"cancelled by {principal.name}"
    if run.status is RunStatus.PENDING:
        # The flow's claim only takes pending rows: once this commits, it can never start
        # the work, whatever Prefect does next. The row lock holds off a racing claim.
        await repository.finish(session, run.id, RunStatus.CANCELLED, error=reason)
        # Read again under the row lock: the flow run may have been created since (the
        # submitter records it after the answer); if it is created after this commits,
        # the submitter finds the run cancelled and cancels the flow run itself.
        flow_run_id = await repository.flow_run_of(session, run.id)
        if flow_run_id is not None:
            await state.prefect.cancel(flow_run_id)
        return run, "cancelled before it started"
    assert run.prefect_flow_run_id is not None
    finished = await _refresh_from_prefect(state, session, principal, run)
    if finished.status.is_terminal:
        # It finished in Prefect before the cancel arrived; the row now says how.
        raise RunNotCancellable(
            f"run {run_id} already finished ({finished.status.value}); only pending or "
            "running runs can be cancelled"
        )
    flow_state = await state.prefect.cancel(run.prefect_flow_run_id)
    if flow_state is not None and flow_state.run_status is RunStatus.CANCELLED:
        await repository.finish(
            session, run.id, RunStatus.CANCELLED, error=reason, flow_run_id=run.prefect_flow_run_id
        )
        return run, "cancelled"
    return run, "Prefect is stopping the flow run; poll the run for `cancelled`"


async def list_runs(
    state: AppState,
    session: AsyncSession,
    principal: Principal,
    *,
    owner: str | None,
    statuses: tuple[RunStatus, ...],
    job_type: JobType | None,
    schedule_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> RunPage:
    """The caller's runs (an admin's: everyone's, or `owner`'s), newest first, one page."""
    if since is not None and until is not None and since > until:
        raise InvalidRequest(
            f"since ({since.isoformat()}) is after until ({until.isoformat()})", field="since"
        )
    page = RunPage(items=[], total=0, limit=limit, offset=offset)
    if not principal.is_admin and owner not in (None, principal.name):
        # Other users' runs do not exist for a non-admin: an empty page, as for a filter
        # that matches nothing, rather than an error that confirms the user exists.
        return page
    where = repository.RunFilter(
        owner_id=None if principal.is_admin else uuid.UUID(principal.user_id),
        owner_name=owner if principal.is_admin else None,
        statuses=statuses,
        job_type=job_type,
        schedule_id=schedule_id,
        since=since,
        until=until,
    )
    rows = await repository.list_page(session, where, limit=limit, offset=offset)
    page.items = [RunSummary.from_run(run, name, state.settings.prefect_ui) for run, name in rows]
    page.total = await repository.count(session, where)
    return page


async def rerun(
    state: AppState,
    session: AsyncSession,
    principal: Principal,
    run_id: uuid.UUID,
    idempotency_key: str | None,
) -> Run:
    """Submit a finished run again from its exact snapshot, as a new run of its owner.

    An admin rerunning another user's run creates it for that user: the snapshot, and so
    the work, stays theirs. A scheduled original is rerun ad hoc, outside its schedule.
    """
    original = await get_visible_run(session, principal, run_id)
    if not original.status.is_terminal:
        # Prefect may have finished it without a hook telling us.
        original = await _refresh_from_prefect(state, session, principal, original)
    if not original.status.is_terminal:
        raise RunNotRerunnable(
            f"run {run_id} is still {original.status.value}; only a finished run (completed, "
            "failed, cancelled, crashed, skipped or dead_lettered) can be rerun: cancel it or wait"
        )
    return await resubmit(state, session, original, principal.name, idempotency_key)


async def resubmit(
    state: AppState,
    session: AsyncSession,
    original: Run,
    requested_by: str,
    idempotency_key: str | None,
) -> Run:
    """A new run of `original`'s owner from its exact snapshot, linked to it by `rerun_of`.

    Submitted as the owner even when an admin asks: the new row and the flow run's owner
    tag are theirs, the snapshot (and so the work) stays theirs; `requested_by` tags it.
    """
    owner = await session.get(User, original.owner_id)
    assert owner is not None  # runs.owner_id is a foreign key to users
    return await submit(
        state,
        Principal(user_id=str(owner.id), name=owner.name, is_admin=owner.is_admin),
        job_type=original.job_type,
        target=original.target,
        snapshot=original.snapshot,
        priority=original.priority,
        idempotency_key=idempotency_key,
        rerun_of=original.id,
        requested_by=requested_by,
    )


async def statistics(session: AsyncSession, principal: Principal, days: int) -> RunStatisticsOut:
    """Counts and timing percentiles of the caller's runs (an admin's: everyone's)."""
    since = utcnow() - timedelta(days=days)
    owner_id = None if principal.is_admin else uuid.UUID(principal.user_id)
    counts = await repository.counts_by_status_and_type(session, since, owner_id)
    started = await repository.started_times(session, since, owner_id)
    return RunStatisticsOut.from_statistics(summarize(counts, started), days, since)
