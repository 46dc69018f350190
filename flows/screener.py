"""The screener flow: rank a ticker universe by the documented score under the run's criteria."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import acreate_table_artifact

from flowdesk.db.models import JobType
from flowdesk.jobs.screener import run_screener
from flows import lifecycle


@flow(name="screener", persist_result=False, log_prints=True, **lifecycle.HOOKS)
async def screener(
    run_id: str | None = None, schedule: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Screen the snapshot's tickers and rank those that pass every criterion."""
    run = await lifecycle.start(JobType.SCREENER, run_id, schedule)
    if run is None:
        return {"claimed": False}
    run_id = str(run.id)
    outcome = run_screener(run_id, run.snapshot)
    await lifecycle.record_result(run_id, outcome.summary, outcome.artifacts)
    await acreate_table_artifact(
        key=f"screener-{run_id}",
        table=outcome.result.rows,
        description=(
            f"Screener {run.target or 'custom tickers'}: {outcome.result.passed} of "
            f"{outcome.result.screened} passed; top {len(outcome.result.rows)} by score."
        ),
    )
    return outcome.summary
