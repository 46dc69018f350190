"""Counting into `metric_samples`, in the caller's transaction.

Each series is one row keyed by (name, canonical labels); a change is an
`INSERT ... ON CONFLICT DO UPDATE SET value = value + excluded.value`, so concurrent
writers in any number of processes add up exactly (the row lock, or SQLite's write
lock, orders them) and a rolled-back event takes its counts with it.

A histogram observation writes two rows: `<name>_bucket` with `le` set to the one bucket
the value falls in (per bucket, not cumulative: one row per observation instead of one
per bucket) and `<name>_sum`. The exposition cumulates the buckets, and the count is
their total.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.desk import MetricSample
from flowdesk.db.types import utcnow
from flowdesk.metrics.definitions import Metric, MetricType, bucket_label, lookup

MAX_LABELS_LENGTH = 512  # the width of metric_samples.labels
_PAIR = re.compile(r'([a-z_][a-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def escape(value: str) -> str:
    """A label value escaped as the Prometheus text format requires."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def canonical(labels: Mapping[str, str]) -> str:
    """`a="1",b="2"`: the pairs sorted by name, values escaped."""
    text = ",".join(f'{key}="{escape(labels[key])}"' for key in sorted(labels))
    if len(text) > MAX_LABELS_LENGTH:
        raise ValueError(f"labels longer than {MAX_LABELS_LENGTH} characters: {text[:80]}…")
    return text


def parse(text: str) -> dict[str, str]:
    """The labels of a canonical string (the inverse of `canonical`)."""
    pairs = {
        key: re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], value)
        for key, value in _PAIR.findall(text)
    }
    if canonical(pairs) != text:
        raise ValueError(f"not a canonical label set: {text!r}")
    return pairs


def _checked_labels(metric: Metric, labels: Mapping[str, str]) -> dict[str, str]:
    if set(labels) != set(metric.labels):
        raise ValueError(
            f"{metric.name} takes labels {sorted(metric.labels)}, not {sorted(labels)}"
        )
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ValueError(f"{metric.name}: label {key} must be a string, not {value!r}")
    # Plain strings: a StrEnum member (JobType.SCREENER) is stored as its value.
    return {key: str(value) for key, value in labels.items()}


class Changes:
    """Increments and observations, written in one statement by `apply`.

    One statement with its rows in key order: two transactions touching the same series
    lock them in the same order, so they queue rather than deadlock.
    """

    def __init__(self) -> None:
        self._deltas: dict[tuple[str, str], float] = {}

    def _add(self, name: str, labels: str, amount: float) -> None:
        self._deltas[(name, labels)] = self._deltas.get((name, labels), 0.0) + amount

    def increment(
        self, metric: Metric | str, labels: Mapping[str, str], amount: float = 1.0
    ) -> Changes:
        counter = lookup(metric)
        if counter.type is not MetricType.COUNTER:
            raise ValueError(f"{counter.name} is a {counter.type}, not a counter")
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"{counter.name}: a counter only grows; got {amount!r}")
        self._add(counter.name, canonical(_checked_labels(counter, labels)), amount)
        return self

    def observe(self, histogram: Metric | str, labels: Mapping[str, str], value: float) -> Changes:
        metric = lookup(histogram)
        if metric.type is not MetricType.HISTOGRAM:
            raise ValueError(f"{metric.name} is a {metric.type}, not a histogram")
        if math.isnan(value):
            raise ValueError(f"{metric.name}: cannot observe NaN")
        checked = _checked_labels(metric, labels)
        bound = next((b for b in metric.buckets if value <= b), math.inf)
        le = canonical({**checked, "le": bucket_label(bound)})
        self._add(f"{metric.name}_bucket", le, 1.0)
        self._add(f"{metric.name}_sum", canonical(checked), value)
        return self

    async def apply(self, session: AsyncSession) -> None:
        """Add every change to its row, inserting rows seen for the first time."""
        if not self._deltas:
            return
        now = utcnow()
        rows = [
            {"name": name, "labels": labels, "value": value, "updated_at": now}
            for (name, labels), value in sorted(self._deltas.items())
        ]
        dialect = session.get_bind().dialect.name
        statement: Any
        if dialect == "postgresql":
            statement = postgresql.insert(MetricSample).values(rows)
        elif dialect == "sqlite":
            statement = sqlite.insert(MetricSample).values(rows)
        else:
            raise ValueError(f"metrics are stored on Postgres or SQLite, not {dialect}")
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[MetricSample.name, MetricSample.labels],
                set_={
                    "value": MetricSample.value + statement.excluded.value,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )
        self._deltas.clear()


async def increment(
    session: AsyncSession, metric: Metric | str, labels: Mapping[str, str], amount: float = 1.0
) -> None:
    """Add `amount` to a counter series, in the session's transaction."""
    await Changes().increment(metric, labels, amount).apply(session)


async def observe(
    session: AsyncSession, histogram: Metric | str, labels: Mapping[str, str], value: float
) -> None:
    """Record one observation of a histogram series, in the session's transaction."""
    await Changes().observe(histogram, labels, value).apply(session)


@dataclass(frozen=True)
class Sample:
    """One stored series: a counter, or a histogram's `_bucket` (per bucket) or `_sum`."""

    name: str
    labels: dict[str, str]
    value: float


async def read_samples(session: AsyncSession) -> list[Sample]:
    """Every stored series, by name and labels."""
    result = await session.execute(
        select(MetricSample.name, MetricSample.labels, MetricSample.value).order_by(
            MetricSample.name, MetricSample.labels
        )
    )
    return [Sample(name, parse(labels), value) for name, labels, value in result]
