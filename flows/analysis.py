"""The analysis flow: the daily company analysis and the hourly quick scan."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flowdesk.artifacts import write_artifact
from flowdesk.biotech.companies import Company, get_companies
from flowdesk.biotech.news.base import NewsSource
from flowdesk.biotech.news.sources import get_news_source
from flowdesk.db.models import JobType
from flowdesk.db.types import utcnow
from flowdesk.jobs.analysis import (
    CompanyOutcome,
    analysis_snapshot,
    analyze_company,
    dependency_failure,
    redeliver_pending,
    summarize,
)
from flowdesk.jsonlog import log_context
from flowdesk.notifications.channels import AnyChannel, configured_channels
from flowdesk.resilience import guard_for
from flowdesk.settings import get_settings
from flows import lifecycle


@task(
    name="analyze-company",
    task_run_name="analyze-{company.id}",
    persist_result=False,
    # Its inputs (a news source, channels) are not hashable, and nothing is cached.
    cache_policy=NO_CACHE,
)
async def analyze_company_task(
    company: Company,
    run_id: uuid.UUID,
    source: NewsSource,
    channels: list[AnyChannel],
    now: datetime,
    scan: str,
) -> CompanyOutcome:
    """Fetch, analyse and store one company's news since its last scan; alert."""
    with log_context(run_id=str(run_id), company_id=company.id):
        outcome = await analyze_company(
            company,
            run_id=run_id,
            source=source,
            engine=lifecycle.engine(),
            channels=channels,
            now=now,
            scan=scan,
        )
        if outcome.error:
            get_run_logger().error("%s: news source unavailable: %s", company.id, outcome.error)
        else:
            get_run_logger().info(
                "company_analysis_complete %s: %d insights, %d alerts, risk %.1f",
                company.id,
                outcome.insights,
                outcome.alerts,
                outcome.risk or 0.0,
            )
        return outcome


@flow(name="analysis", persist_result=False, **lifecycle.HOOKS)
async def analysis(run_id: str | None = None, scan: str = "daily") -> dict[str, Any]:
    """Analyse each company's news since its last scan: insights, risk scores, alerts."""
    settings, registry = get_settings(), get_companies()
    if run_id is None:
        snapshot = analysis_snapshot(
            scan, None, registry, settings, now=utcnow(), submitted_by="the desk's timetable"
        )
        priority = "high" if scan == "quick" else "default"
        run = await lifecycle.start_system(JobType.ANALYSIS, scan, snapshot, priority)
    else:
        run = await lifecycle.claim(run_id)
    if run is None:
        return {"claimed": False}
    run_id = str(run.id)
    async with lifecycle.dead_letter_on_dependency_failure(run_id):
        snapshot, now = run.snapshot, utcnow()
        source = get_news_source(
            settings,
            registry,
            call=guard_for(f"news:{snapshot['news_source']}").call,
            name=snapshot["news_source"],
            replay_at=now,
        )
        channels = configured_channels(settings.notifications_path)
        redelivered = await redeliver_pending(lifecycle.engine(), registry, channels, now)
        outcomes = [
            await analyze_company_task(
                registry.get(company_id), run.id, source, channels, now, snapshot["scan"]
            )
            for company_id in snapshot["companies"]
        ]
        summary = summarize(outcomes, redelivered)
        artifacts = [
            write_artifact(run_id, "analysis.json", json.dumps(summary, indent=2, default=str))
        ]
        await lifecycle.record_result(run_id, summary, artifacts)
        await acreate_table_artifact(
            key=f"analysis-{run_id}",
            table=[o.to_dict() | {"event_counts": str(o.event_counts)} for o in outcomes],
            description=f"{snapshot['scan']} scan of {len(outcomes)} companies: "
            f"{summary['insights']} insights, {summary['alerts']} alerts",
        )
        if summary["companies_failed"]:
            raise dependency_failure(outcomes, snapshot["news_source"])
    await acreate_markdown_artifact(
        key=f"analysis-summary-{run_id}",
        markdown=_markdown(summary),
        description=f"{snapshot['scan']} scan summary, run {run_id}",
    )
    return {k: v for k, v in summary.items() if k != "per_company"}


def _markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Company analysis: {summary['companies']} companies",
        "",
        f"- insights: {summary['insights']} (duplicates dropped: {summary['duplicates']})",
        f"- alerts: {summary['alerts']} ({summary['alerts_delivered']} delivered)",
        "",
        "| company | insights | alerts | risk | change |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in summary["per_company"]:
        risk = "—" if row["risk"] is None else f"{row['risk']:.1f}"
        delta = "—" if row["risk_delta"] is None else f"{row['risk_delta']:+.1f}"
        lines.append(
            f"| {row['company_id']} | {row['insights']} | {row['alerts']} | {risk} | {delta} |"
        )
    return "\n".join(lines) + "\n"
