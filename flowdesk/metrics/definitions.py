"""Every metric flowdesk exposes: its name, type, help text, label names and buckets.

The seed's list under a `flowdesk_` prefix. Counters and histograms are stored in the
database (`recorder.py`); the one gauge is read from Prefect when `/metrics` is scraped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

_NAME = re.compile(r"^flowdesk_[a-z0-9_]+$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


class MetricType(StrEnum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


@dataclass(frozen=True)
class Metric:
    """One metric family. Histogram buckets are upper bounds; +Inf is implied."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"metric name {self.name!r} must match {_NAME.pattern}")
        if self.type is MetricType.COUNTER and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        for label in self.labels:
            if not _LABEL.match(label) or label == "le":
                raise ValueError(f"{self.name}: invalid label name {label!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"{self.name}: repeated label names {self.labels}")
        if self.type is MetricType.HISTOGRAM:
            if not self.buckets or list(self.buckets) != sorted(set(self.buckets)):
                raise ValueError(f"{self.name}: buckets must be strictly increasing")
            if not all(math.isfinite(b) for b in self.buckets):
                raise ValueError(f"{self.name}: buckets are finite; +Inf is implied")
        elif self.buckets:
            raise ValueError(f"{self.name}: only a histogram has buckets")


JOBS_TOTAL = Metric(
    "flowdesk_jobs_total",
    MetricType.COUNTER,
    "Runs that reached a terminal status, by job type and status.",
    ("job_type", "status"),
)
JOB_DURATION_SECONDS = Metric(
    "flowdesk_job_duration_seconds",
    MetricType.HISTOGRAM,
    "Wall time of finished runs that started, from started_at to finished_at.",
    ("job_type",),
    # Screeners take seconds; reports and the daily scan minutes; maintenance up to half
    # an hour.
    (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
TASKS_TOTAL = Metric(
    "flowdesk_tasks_total",
    MetricType.COUNTER,
    "Tasks inside flows that ended, by task name and final state.",
    ("task", "state"),
)
TASK_DURATION_SECONDS = Metric(
    "flowdesk_task_duration_seconds",
    MetricType.HISTOGRAM,
    "Wall time of tasks inside flows, by task name.",
    ("task",),
    # A task is one fetch or one company's analysis: milliseconds to a minute.
    (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ACTIVE_WORKERS = Metric(
    "flowdesk_active_workers",
    MetricType.GAUGE,
    "Workers of the flowdesk work pool that Prefect reports ONLINE (absent if Prefect is down).",
)
COMPANIES_ANALYZED_TOTAL = Metric(
    "flowdesk_companies_analyzed_total",
    MetricType.COUNTER,
    "Companies whose news was analysed, by scan (daily, quick).",
    ("scan",),
)
INSIGHTS_GENERATED_TOTAL = Metric(
    "flowdesk_insights_generated_total",
    MetricType.COUNTER,
    "Insights stored from analysed news, by event type.",
    ("event_type",),
)
ERRORS_TOTAL = Metric(
    "flowdesk_errors_total",
    MetricType.COUNTER,
    "Errors by type: failed, crashed and dead-lettered runs, and errors flows report.",
    ("type",),
)

METRICS: tuple[Metric, ...] = (
    JOBS_TOTAL,
    JOB_DURATION_SECONDS,
    TASKS_TOTAL,
    TASK_DURATION_SECONDS,
    ACTIVE_WORKERS,
    COMPANIES_ANALYZED_TOTAL,
    INSIGHTS_GENERATED_TOTAL,
    ERRORS_TOTAL,
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def bucket_label(bound: float) -> str:
    """A bucket's `le` value as Prometheus clients write it: "0.5", "60.0", "+Inf"."""
    return "+Inf" if bound == math.inf else repr(float(bound))


def lookup(metric: Metric | str) -> Metric:
    """The defined metric by object or name; ValueError for one that is not defined."""
    name = metric if isinstance(metric, str) else metric.name
    found = BY_NAME.get(name)
    if found is None or (isinstance(metric, Metric) and metric != found):
        raise ValueError(f"unknown metric {name!r}; defined: {', '.join(sorted(BY_NAME))}")
    return found
