"""The Prometheus text exposition of the stored metrics, for `GET /metrics`.

Built per scrape in a throwaway registry from the rows every process shares, so any API
process answers with the same numbers. Every defined metric appears, with HELP and TYPE
even before its first sample.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric as Family
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.metrics.definitions import (
    ACTIVE_WORKERS,
    METRICS,
    Metric,
    MetricType,
    bucket_label,
)
from flowdesk.metrics.recorder import Sample, read_samples

logger = logging.getLogger(__name__)

LabelValues = tuple[str, ...]


async def render(session: AsyncSession, workers_online: int | None) -> bytes:
    """Every metric in the text format; `workers_online` None (Prefect down) leaves the
    active_workers gauge without a sample."""
    gauges = {ACTIVE_WORKERS.name: None if workers_online is None else float(workers_online)}
    families = build_families(await read_samples(session), gauges)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


class _Families:
    def __init__(self, families: Sequence[Family]) -> None:
        self._families = families

    def collect(self) -> Iterable[Family]:
        return self._families


def build_families(samples: Sequence[Sample], gauges: Mapping[str, float | None]) -> list[Family]:
    """One family per defined metric, in definition order, from the stored samples."""
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_name[sample.name].append(sample)
    families: list[Family] = []
    for metric in METRICS:
        if metric.type is MetricType.COUNTER:
            families.append(_counter(metric, by_name[metric.name]))
        elif metric.type is MetricType.HISTOGRAM:
            families.append(
                _histogram(metric, by_name[f"{metric.name}_bucket"], by_name[f"{metric.name}_sum"])
            )
        else:
            gauge = GaugeMetricFamily(metric.name, metric.help, labels=list(metric.labels))
            value = gauges.get(metric.name)
            if value is not None:
                gauge.add_metric([], value)
            families.append(gauge)
    return families


def _values(metric: Metric, labels: Mapping[str, str]) -> LabelValues | None:
    """The label values in the metric's order; None for a row stored under other names."""
    if set(labels) != set(metric.labels):
        logger.warning(
            "skipping a stored sample of %s with labels %s: the metric takes %s",
            metric.name,
            sorted(labels),
            list(metric.labels),
        )
        return None
    return tuple(labels[name] for name in metric.labels)


def _counter(metric: Metric, samples: Sequence[Sample]) -> CounterMetricFamily:
    family = CounterMetricFamily(metric.name, metric.help, labels=list(metric.labels))
    values: dict[LabelValues, float] = {}
    for sample in samples:
        key = _values(metric, sample.labels)
        if key is not None:
            values[key] = sample.value
    if not metric.labels and not values:
        values[()] = 0.0  # a counter with no labels exists from the start
    for key in sorted(values):
        family.add_metric(list(key), values[key])
    return family


def _histogram(
    metric: Metric, buckets: Sequence[Sample], sums: Sequence[Sample]
) -> HistogramMetricFamily:
    """Cumulative buckets from the per-bucket rows; a row whose bound is no longer defined
    counts in the next defined bucket above it."""
    family = HistogramMetricFamily(metric.name, metric.help, labels=list(metric.labels))
    counts: dict[LabelValues, dict[float, float]] = defaultdict(dict)
    totals: dict[LabelValues, float] = {}
    for sample in buckets:
        labels = dict(sample.labels)
        bound = float(labels.pop("le", "+Inf"))
        key = _values(metric, labels)
        if key is not None:
            counts[key][bound] = counts[key].get(bound, 0.0) + sample.value
    for sample in sums:
        key = _values(metric, sample.labels)
        if key is not None:
            totals[key] = sample.value
    keys = set(counts) | set(totals)
    if not metric.labels and not keys:
        keys = {()}
    for key in sorted(keys):
        per_bucket = counts.get(key, {})
        cumulative = [
            (
                bucket_label(upper),
                sum(count for bound, count in per_bucket.items() if bound <= upper),
            )
            for upper in (*metric.buckets, math.inf)
        ]
        family.add_metric(list(key), cumulative, sum_value=totals.get(key, 0.0))
    return family
