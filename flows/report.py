"""The report flow: build a report from the run's snapshot."""

from __future__ import annotations

import os
from typing import Any

from prefect import flow, get_client
from prefect.artifacts import acreate_markdown_artifact
from prefect.logging import get_run_logger

from flowdesk.db.engine import session_scope
from flowdesk.db.models import JobType
from flowdesk.jobs.report import run_report
from flowdesk.notifications.channels import configured_channels
from flowdesk.notifications.deliver import Notice, deliver
from flowdesk.reports.registry import parse_report_params
from flowdesk.runs.snapshots import report_snapshot
from flowdesk.settings import get_settings
from flows import lifecycle


@flow(name="report", persist_result=False, **lifecycle.HOOKS)
async def report(
    run_id: str | None = None,
    schedule: dict[str, Any] | None = None,
    report_type: str | None = None,
) -> dict[str, Any]:
    """Build the snapshot's report as Markdown, HTML and JSON."""
    if run_id is None and schedule is None and report_type is not None:
        # The desk's timetable (or `prefect deployment run`): the type's default parameters.
        snapshot = report_snapshot(
            report_type=report_type,
            parameters=parse_report_params(report_type, {}).model_dump(),
            submitted_by="the desk's timetable",
        )
        run = await lifecycle.start_system(JobType.REPORT, report_type, snapshot, "default")
    else:
        run = await lifecycle.start(JobType.REPORT, run_id, schedule)
    if run is None:
        return {"claimed": False}
    run_id = str(run.id)
    async with get_client() as client, session_scope(lifecycle.engine()) as session:
        outcome = await run_report(run_id, run.snapshot, session, client)
    await lifecycle.record_result(run_id, outcome.summary, outcome.artifacts)
    if outcome.notification is not None:
        await _notify(run_id, *outcome.notification)
    await acreate_markdown_artifact(
        key=f"report-{run_id}",
        markdown=outcome.markdown,
        description=f"{run.target} report, run {run_id}",
    )
    return outcome.summary


async def _notify(run_id: str, subject: str, body: str) -> None:
    """Send the report's summary to every alert channel that takes reports."""
    settings = get_settings()
    link = f"http://{settings.api_host}:{settings.api_port}/api/runs/{run_id}"
    channels = configured_channels(settings.notifications_path)
    records = await deliver(
        Notice(subject, f"{body}\n\nThe run and its artifacts: {link}"), channels, dict(os.environ)
    )
    failed = [r for r in records if not r["ok"]]
    if failed:
        get_run_logger().warning("report summary not delivered to %s", failed)
