"""The report flow: build a report from the run's snapshot."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_client
from prefect.artifacts import acreate_markdown_artifact

from flowdesk.db.engine import session_scope
from flowdesk.db.models import JobType
from flowdesk.jobs.report import run_report
from flows import lifecycle


@flow(name="report", persist_result=False, **lifecycle.HOOKS)
async def report(
    run_id: str | None = None, schedule: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the snapshot's report as Markdown, HTML and JSON."""
    run = await lifecycle.start(JobType.REPORT, run_id, schedule)
    if run is None:
        return {"claimed": False}
    run_id = str(run.id)
    async with get_client() as client, session_scope(lifecycle.engine()) as session:
        outcome = await run_report(run_id, run.snapshot, session, client)
    await lifecycle.record_result(run_id, outcome.summary, outcome.artifacts)
    await acreate_markdown_artifact(
        key=f"report-{run_id}",
        markdown=outcome.markdown,
        description=f"{run.target} report, run {run_id}",
    )
    return outcome.summary
