"""The text exposition: every seed metric, `flowdesk_` prefixed, with its type."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample as ParsedSample

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.db.migrate import upgrade
from flowdesk.metrics import METRICS, render
from flowdesk.metrics.exposition import build_families
from flowdesk.metrics.recorder import Sample

# The seed's list (bionewsbot_*), each with the type Prometheus should see.
SEED = {
    "flowdesk_jobs_total": "counter",
    "flowdesk_job_duration_seconds": "histogram",
    "flowdesk_tasks_total": "counter",
    "flowdesk_task_duration_seconds": "histogram",
    "flowdesk_active_workers": "gauge",
    "flowdesk_companies_analyzed_total": "counter",
    "flowdesk_insights_generated_total": "counter",
    "flowdesk_errors_total": "counter",
}


def render_empty(url: str, workers_online: int | None) -> str:
    upgrade(url)

    async def main() -> bytes:
        engine = make_engine(url)
        try:
            async with session_factory(engine)() as session:
                return await render(session, workers_online)
        finally:
            await engine.dispose()

    return asyncio.run(main()).decode()


def types_by_name(text: str) -> dict[str, str]:
    # The parser drops a counter's `_total` from the family name; the TYPE line keeps it.
    return {
        line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE")
    }


def samples_of(text: str) -> list[ParsedSample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


class TestRender:
    def test_every_seed_metric_is_there_before_any_sample(self, fresh_database_url: str) -> None:
        text = render_empty(fresh_database_url, workers_online=3)

        assert types_by_name(text) == SEED
        families = {f.name: f.type for f in text_string_to_metric_families(text)}
        assert families == {name.removesuffix("_total"): kind for name, kind in SEED.items()}
        assert text.count("# HELP flowdesk_") == len(SEED)

    def test_active_workers_is_the_number_given(self, fresh_database_url: str) -> None:
        samples = samples_of(render_empty(fresh_database_url, workers_online=3))

        assert [(s.name, s.value) for s in samples] == [("flowdesk_active_workers", 3.0)]

    def test_active_workers_has_no_sample_when_prefect_is_down(self, tmp_path: Path) -> None:
        text = render_empty(f"sqlite:///{tmp_path}/m.db", workers_online=None)

        assert "# TYPE flowdesk_active_workers gauge" in text
        assert samples_of(text) == []


class TestBuildFamilies:
    def test_definitions_match_the_seed(self) -> None:
        assert {m.name: m.type.value for m in METRICS} == SEED

    def test_per_bucket_rows_become_cumulative_buckets(self) -> None:
        rows = [
            Sample("flowdesk_task_duration_seconds_bucket", {"task": "t", "le": "0.05"}, 2),
            Sample("flowdesk_task_duration_seconds_bucket", {"task": "t", "le": "1.0"}, 1),
            Sample("flowdesk_task_duration_seconds_bucket", {"task": "t", "le": "+Inf"}, 1),
            Sample("flowdesk_task_duration_seconds_sum", {"task": "t"}, 100.5),
        ]
        (family,) = [
            f for f in build_families(rows, {}) if f.name == "flowdesk_task_duration_seconds"
        ]
        buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
        totals = {s.name: s.value for s in family.samples if not s.name.endswith("_bucket")}

        assert buckets["0.025"] == 0
        assert buckets["0.05"] == buckets["0.5"] == 2
        assert buckets["1.0"] == buckets["60.0"] == 3
        assert buckets["+Inf"] == 4
        assert list(buckets.values()) == sorted(buckets.values())
        assert totals == {
            "flowdesk_task_duration_seconds_count": 4,
            "flowdesk_task_duration_seconds_sum": 100.5,
        }

    def test_a_bound_no_longer_defined_counts_in_the_next_bucket_up(self) -> None:
        rows = [Sample("flowdesk_job_duration_seconds_bucket", {"job_type": "x", "le": "3.0"}, 1)]
        (family,) = [f for f in build_families(rows, {}) if f.name.endswith("job_duration_seconds")]
        buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}

        assert (buckets["2.0"], buckets["5.0"], buckets["+Inf"]) == (0, 1, 1)

    def test_a_row_stored_under_other_label_names_is_skipped(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        rows = [
            Sample("flowdesk_errors_total", {"kind": "failed"}, 4),
            Sample("flowdesk_errors_total", {"type": "crashed"}, 1),
        ]
        (family,) = [f for f in build_families(rows, {}) if f.name == "flowdesk_errors"]

        assert [(s.labels, s.value) for s in family.samples] == [({"type": "crashed"}, 1)]
        assert "skipping a stored sample of flowdesk_errors_total" in caplog.text

    def test_a_gauge_without_a_value_has_no_sample(self) -> None:
        families = build_families([], {"flowdesk_active_workers": None})
        (gauge,) = [f for f in families if f.name == "flowdesk_active_workers"]

        assert gauge.samples == []
        assert not any(math.isnan(s.value) for f in families for s in f.samples)
