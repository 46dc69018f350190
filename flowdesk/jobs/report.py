"""A report run: gather, render Markdown, HTML and JSON, and write them as artifacts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect.client.orchestration import PrefectClient
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.artifacts import write_artifact
from flowdesk.biotech.companies import get_companies
from flowdesk.reports import biotech_weekly, system_status
from flowdesk.reports.biotech_weekly_gather import covered_companies, gather_biotech_weekly
from flowdesk.reports.gather import gather_system_status
from flowdesk.reports.registry import (
    BiotechWeeklyParams,
    SystemStatusParams,
    parse_report_params,
)
from flowdesk.settings import get_settings


@dataclass(frozen=True)
class ReportOutcome:
    markdown: str
    summary: dict[str, Any]
    artifacts: list[dict[str, Any]]
    # (subject, plain-text body) for the flow to send; None: the report notifies no one.
    notification: tuple[str, str] | None = None


def snapshot_time(snapshot: dict[str, Any]) -> datetime:
    """When the snapshot was resolved, in UTC: the moment a report describes."""
    moment = datetime.fromisoformat(snapshot["resolved_at"])
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _write(run_id: str, markdown: str, html: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        write_artifact(run_id, "report.md", markdown),
        write_artifact(run_id, "report.html", html),
        write_artifact(run_id, "data.json", json.dumps(data, indent=2, default=str)),
    ]


async def _system_status(
    run_id: str, params: SystemStatusParams, session: AsyncSession, client: PrefectClient
) -> ReportOutcome:
    settings = get_settings()
    status = await gather_system_status(
        session, client, params, database_url=settings.database_url, pool_name=settings.work_pool
    )
    markdown = system_status.render_markdown(status)
    html, data = system_status.render_html(status), system_status.to_json(status)
    return ReportOutcome(
        markdown=markdown,
        summary=system_status.summary(status),
        artifacts=_write(run_id, markdown, html, data),
    )


async def _biotech_weekly(
    run_id: str, params: BiotechWeeklyParams, session: AsyncSession, as_of: datetime
) -> ReportOutcome:
    companies = covered_companies(params, get_companies())
    report = await gather_biotech_weekly(session, params, companies, as_of=as_of)
    markdown = biotech_weekly.render_markdown(report)
    html, data = biotech_weekly.render_html(report), biotech_weekly.to_json(report)
    return ReportOutcome(
        markdown=markdown,
        summary=biotech_weekly.summary(report),
        artifacts=_write(run_id, markdown, html, data),
        notification=biotech_weekly.notification(report),
    )


async def run_report(
    run_id: str, snapshot: dict[str, Any], session: AsyncSession, client: PrefectClient
) -> ReportOutcome:
    """Execute a report snapshot."""
    params = parse_report_params(snapshot["report_type"], snapshot["parameters"])
    if isinstance(params, SystemStatusParams):
        return await _system_status(run_id, params, session, client)
    if isinstance(params, BiotechWeeklyParams):
        return await _biotech_weekly(run_id, params, session, snapshot_time(snapshot))
    raise TypeError(f"report type {snapshot['report_type']!r} has no runner")
