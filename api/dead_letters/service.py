"""Listing dead letters and requeuing them from their snapshots (admins only)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.dead_letters.schemas import DeadLetterOut, DeadLetterPage, RequeueOut
from api.runs import service as runs_service
from api.runs.schemas import RunSummary
from api.state import AppState
from flowdesk.accounts.service import Principal
from flowdesk.db.models import Run, RunStatus
from flowdesk.errors import RunNotFound
from flowdesk.runs import dead_letters, repository


async def list_dead_letters(
    state: AppState, session: AsyncSession, *, requeued: bool | None, limit: int, offset: int
) -> DeadLetterPage:
    """Every user's dead letters, newest first; `requeued` keeps only those (not) requeued."""
    where = repository.RunFilter(
        statuses=(RunStatus.DEAD_LETTERED,),
        extra=() if requeued is None else (dead_letters.requeued(requeued),),
    )
    rows = await repository.list_page(session, where, limit=limit, offset=offset)
    requeues = await dead_letters.requeues_of(session, [run.id for run, _ in rows])
    items = [
        DeadLetterOut(
            run=RunSummary.from_run(run, owner, state.settings.prefect_ui),
            requeued_as=_requeue_out(requeues.get(run.id)),
        )
        for run, owner in rows
    ]
    total = await repository.count(session, where)
    return DeadLetterPage(items=items, total=total, limit=limit, offset=offset)


async def requeue(
    state: AppState, session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> Run:
    """A new run of the dead letter's owner from its exact snapshot; the same one if asked again."""
    original = await repository.get(session, run_id)
    if original is None or original.status is not RunStatus.DEAD_LETTERED:
        raise RunNotFound(f"no dead letter {run_id}: GET /api/dead-letters lists them")
    # One requeue per dead letter, however often or concurrently it is asked for.
    key = dead_letters.requeue_key(original.id)
    return await runs_service.resubmit(state, session, original, principal.name, key)


def _requeue_out(run: Run | None) -> RequeueOut | None:
    if run is None:
        return None
    return RequeueOut(run_id=run.id, status=run.status.value, url=f"/api/runs/{run.id}")
