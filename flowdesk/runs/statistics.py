"""Run statistics over a window: counts, success rate, and duration and lateness percentiles.

Definitions (the API documents the same ones):
- `duration` = finished_at - started_at, over runs that started and finished;
- `start lateness` = started_at - (scheduled_for if set, else created_at), over runs that
  started: how long a scheduled tick or a submission waited for a worker. It can be
  negative if a flow run starts a moment before its tick;
- `success_rate` = completed / (completed + failed + crashed + dead_lettered), None when 0/0:
  cancelled and skipped runs say nothing about whether jobs work;
- percentiles interpolate linearly between the closest ranks, like numpy's default
  (`method="linear"`): p of sorted x is x[i] + (h - i) * (x[i+1] - x[i]) with
  h = (n - 1) * p / 100 and i = floor(h).

Pure: it takes rows a repository query fetched and returns plain dataclasses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flowdesk.db.models import JobType, RunStatus

# Outcomes that tell whether a job works; cancelled and skipped runs do not.
SUCCESS = (RunStatus.COMPLETED,)
UNSUCCESSFUL = (RunStatus.FAILED, RunStatus.CRASHED, RunStatus.DEAD_LETTERED)


@dataclass(frozen=True)
class RunTimes:
    """The timestamps of one started run, as a repository query returns them."""

    job_type: JobType
    created_at: datetime
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def start_lateness_seconds(self) -> float:
        due = self.scheduled_for if self.scheduled_for is not None else self.created_at
        return (self.started_at - due).total_seconds()


@dataclass(frozen=True)
class Spread:
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class JobTypeStatistics:
    runs: int
    duration_seconds: Spread
    start_lateness_seconds: Spread


@dataclass(frozen=True)
class RunStatistics:
    total_runs: int
    status_counts: dict[str, int]
    job_type_counts: dict[str, int]
    success_rate: float | None
    by_job_type: dict[str, JobTypeStatistics]


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation, as numpy's default; None if empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    if not values:
        return None
    ordered = sorted(values)
    h = (len(ordered) - 1) * p / 100
    i = math.floor(h)
    if i + 1 >= len(ordered):
        return ordered[-1]
    return ordered[i] + (h - i) * (ordered[i + 1] - ordered[i])


def spread(values: Sequence[float]) -> Spread:
    return Spread(p50=percentile(values, 50), p95=percentile(values, 95))


def summarize(
    counts: Iterable[tuple[RunStatus, JobType, int]], started: Iterable[RunTimes]
) -> RunStatistics:
    """Statistics from run counts by (status, job type) and the timestamps of started runs.

    Every status and job type appears, with zeros, so the shape never depends on the data.
    """
    status_counts = {s.value: 0 for s in RunStatus}
    job_type_counts = {j.value: 0 for j in JobType}
    for status, job_type, n in counts:
        status_counts[status.value] += n
        job_type_counts[job_type.value] += n
    durations: dict[str, list[float]] = {j.value: [] for j in JobType}
    lateness: dict[str, list[float]] = {j.value: [] for j in JobType}
    for run in started:
        lateness[run.job_type.value].append(run.start_lateness_seconds)
        duration = run.duration_seconds
        if duration is not None:
            durations[run.job_type.value].append(duration)
    decided = sum(status_counts[s.value] for s in (*SUCCESS, *UNSUCCESSFUL))
    succeeded = sum(status_counts[s.value] for s in SUCCESS)
    return RunStatistics(
        total_runs=sum(status_counts.values()),
        status_counts=status_counts,
        job_type_counts=job_type_counts,
        success_rate=succeeded / decided if decided else None,
        by_job_type={
            job_type: JobTypeStatistics(
                runs=n,
                duration_seconds=spread(durations[job_type]),
                start_lateness_seconds=spread(lateness[job_type]),
            )
            for job_type, n in job_type_counts.items()
        },
    )
