"""Prometheus metrics stored in the database, counted in the transaction of what they count.

    await record_task(session, "fetch_news", "completed", 1.8)   # in the task's unit of work
    body = await render(session, workers_online=2)                # GET /metrics

`definitions.py` lists the metrics, `recorder.py` stores them, `exposition.py` renders
them. Runs are counted where they finish (`flowdesk.runs.repository.finish` and the
schedule ticks recorded already finished); the helpers below are for the analysis flow.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.metrics.definitions import (
    ACTIVE_WORKERS,
    COMPANIES_ANALYZED_TOTAL,
    ERRORS_TOTAL,
    INSIGHTS_GENERATED_TOTAL,
    JOB_DURATION_SECONDS,
    JOBS_TOTAL,
    METRICS,
    TASK_DURATION_SECONDS,
    TASKS_TOTAL,
    Metric,
    MetricType,
)
from flowdesk.metrics.exposition import render
from flowdesk.metrics.recorder import Changes, increment, observe

# The run statuses that count as errors, each its own `type` of flowdesk_errors_total.
ERROR_STATUSES = frozenset({"failed", "crashed", "dead_lettered"})


async def record_job(
    session: AsyncSession, job_type: str, status: str, seconds: float | None
) -> None:
    """A run reached terminal `status`: count it, its duration (None: it never started),
    and an error when the status is one."""
    changes = Changes().increment(JOBS_TOTAL, {"job_type": job_type, "status": status})
    if seconds is not None:
        # Clocks of two hosts (the flow's start, the API's reconcile) may disagree slightly.
        changes.observe(JOB_DURATION_SECONDS, {"job_type": job_type}, max(0.0, seconds))
    if status in ERROR_STATUSES:
        changes.increment(ERRORS_TOTAL, {"type": status})
    await changes.apply(session)


async def record_task(session: AsyncSession, task: str, state: str, seconds: float) -> None:
    """A task ended in `state` after `seconds`."""
    await (
        Changes()
        .increment(TASKS_TOTAL, {"task": task, "state": state})
        .observe(TASK_DURATION_SECONDS, {"task": task}, seconds)
        .apply(session)
    )


async def record_company_analyzed(session: AsyncSession, scan: str) -> None:
    """One company's news was analysed by a `scan` (daily, quick)."""
    await increment(session, COMPANIES_ANALYZED_TOTAL, {"scan": scan})


async def record_insights(session: AsyncSession, counts_by_event_type: Mapping[str, int]) -> None:
    """Insights stored, counted by event type (zero counts are skipped)."""
    changes = Changes()
    for event_type, count in counts_by_event_type.items():
        if count:
            changes.increment(INSIGHTS_GENERATED_TOTAL, {"event_type": event_type}, count)
    await changes.apply(session)


async def record_error(session: AsyncSession, type: str) -> None:
    """One error of `type`: an exception's class name, e.g. "DependencyUnavailable"."""
    await increment(session, ERRORS_TOTAL, {"type": type})


__all__ = [
    "ACTIVE_WORKERS",
    "COMPANIES_ANALYZED_TOTAL",
    "ERRORS_TOTAL",
    "ERROR_STATUSES",
    "INSIGHTS_GENERATED_TOTAL",
    "JOBS_TOTAL",
    "JOB_DURATION_SECONDS",
    "METRICS",
    "TASKS_TOTAL",
    "TASK_DURATION_SECONDS",
    "Changes",
    "Metric",
    "MetricType",
    "increment",
    "observe",
    "record_company_analyzed",
    "record_error",
    "record_insights",
    "record_job",
    "record_task",
    "render",
]
