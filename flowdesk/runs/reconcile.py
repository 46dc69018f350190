"""Bringing run rows in line with Prefect when no state hook could (a killed worker).

Two repairs, both idempotent, so any number of API processes may run them:
- an open run whose flow run reached a terminal state gets that state's status;
- a pending run whose flow run was never created (the submitting process died between
  the insert and the Prefect call) is submitted again under the same idempotency key.

A pass commits each repair before it asks Prefect about the next run. Held to the end of
the pass, a repaired row's lock and the job counter's (flowdesk_jobs_total, updated in
the same transaction) waited on every later Prefect call, and a flow's own finish, which
takes its row and then the counter, deadlocked with the pass: Postgres aborted one side
(a `GET /api/runs/{id}` answered 500 with 4 clients of ad-hoc runs, 2026-12-07).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import Run, RunStatus, User
from flowdesk.db.types import utcnow
from flowdesk.orchestration import PrefectGateway
from flowdesk.runs import repository
from flowdesk.runs.submission import create_flow_run

logger = logging.getLogger(__name__)


async def reconcile_run(session: AsyncSession, prefect: PrefectGateway, run: Run) -> bool:
    """Apply Prefect's terminal state to an open run; True if the row changed."""
    if run.status.is_terminal or run.prefect_flow_run_id is None:
        return False
    state = await prefect.flow_run_state(run.prefect_flow_run_id)
    if state is None or state.run_status is None:
        return False
    error = None if state.run_status is RunStatus.COMPLETED else (state.message or state.name)
    changed = await repository.finish(
        session, run.id, state.run_status, error=error, flow_run_id=run.prefect_flow_run_id
    )
    if changed:
        logger.info(
            "reconciled run %s to %s from Prefect state %s", run.id, state.run_status, state.name
        )
    return changed


async def reconcile_open_runs(
    session: AsyncSession, prefect: PrefectGateway, *, older_than: timedelta, limit: int = 200
) -> int:
    """One pass over open runs not updated for `older_than`, each repair committed; the
    number repaired."""
    runs = await repository.open_with_flow_run(session, utcnow() - older_than, limit)
    await session.commit()  # no snapshot held while Prefect is asked
    repaired = 0
    for run in runs:
        changed = await reconcile_run(session, prefect, run)
        await session.commit()
        repaired += changed
    return repaired


async def resubmit_lost_runs(
    session: AsyncSession, prefect: PrefectGateway, *, older_than: timedelta, limit: int = 100
) -> int:
    """Create the flow run of every pending run that never got one; the number resubmitted.

    `older_than` must exceed the API's Prefect deadline, so that a submission still in
    flight is never taken for a lost one.
    """
    runs = await repository.pending_without_flow_run(session, utcnow() - older_than, limit)
    for run in runs:
        owner = await session.get(User, run.owner_id)
        flow_run, deployment = await create_flow_run(prefect, run, owner.name if owner else "?")
        await repository.set_flow_run(session, run.id, flow_run.id, deployment)
        await session.commit()
        logger.warning("resubmitted run %s, whose flow run was never created", run.id)
    return len(runs)
