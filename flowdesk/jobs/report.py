"""A report run: gather, render Markdown, HTML and JSON, and write them as artifacts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import PrefectClient
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.artifacts import write_artifact
from flowdesk.reports import system_status
from flowdesk.reports.gather import gather_system_status
from flowdesk.reports.registry import SystemStatusParams, parse_report_params
from flowdesk.settings import get_settings


@dataclass(frozen=True)
class ReportOutcome:
    markdown: str
    summary: dict[str, Any]
    artifacts: list[dict[str, Any]]


async def run_report(
    run_id: str, snapshot: dict[str, Any], session: AsyncSession, client: PrefectClient
) -> ReportOutcome:
    """Execute a report snapshot."""
    params = parse_report_params(snapshot["report_type"], snapshot["parameters"])
    assert isinstance(params, SystemStatusParams)  # the only report type so far
    settings = get_settings()
    status = await gather_system_status(
        session, client, params, database_url=settings.database_url, pool_name=settings.work_pool
    )
    markdown = system_status.render_markdown(status)
    artifacts = [
        write_artifact(run_id, "report.md", markdown),
        write_artifact(run_id, "report.html", system_status.render_html(status)),
        write_artifact(
            run_id, "data.json", json.dumps(system_status.to_json(status), indent=2, default=str)
        ),
    ]
    return ReportOutcome(
        markdown=markdown, summary=system_status.summary(status), artifacts=artifacts
    )
