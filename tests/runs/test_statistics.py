"""Run statistics: percentiles and aggregation by hand numbers, and their query on SQLite."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import JobType, Run, RunStatus, User
from flowdesk.runs import repository
from flowdesk.runs.statistics import RunTimes, Spread, percentile, summarize

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def times(
    job_type: JobType = JobType.SCREENER,
    *,
    created: float = 0,
    started: float,
    finished: float | None = None,
    scheduled: float | None = None,
) -> RunTimes:
    return RunTimes(
        job_type=job_type,
        created_at=at(created),
        scheduled_for=None if scheduled is None else at(scheduled),
        started_at=at(started),
        finished_at=None if finished is None else at(finished),
    )


class TestPercentile:
    def test_median_of_an_even_count_is_halfway_between_the_middle_two(self) -> None:
        assert percentile([1, 2, 3, 4], 50) == 2.5

    def test_p95_interpolates_between_the_closest_ranks(self) -> None:
        # h = (4 - 1) * 0.95 = 2.85: 3 + 0.85 * (4 - 3)
        assert percentile([4, 1, 3, 2], 95) == pytest.approx(3.85)

    def test_unsorted_input_is_ranked_first(self) -> None:
        # sorted [1, 3, 5]; h = 1.9: 3 + 0.9 * (5 - 3)
        assert percentile([5, 1, 3], 95) == pytest.approx(4.8)
        assert percentile([5, 1, 3], 50) == 3

    def test_one_value_is_every_percentile(self) -> None:
        assert percentile([7.5], 50) == percentile([7.5], 95) == 7.5

    def test_no_values_is_none(self) -> None:
        assert percentile([], 50) is None

    def test_ends_are_min_and_max(self) -> None:
        assert percentile([3, 9, 1], 0) == 1
        assert percentile([3, 9, 1], 100) == 9

    def test_out_of_range_percentile_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="0..100"):
            percentile([1], 101)

    def test_matches_numpy_default_on_random_samples(self) -> None:
        rng = random.Random(20260302)
        for n in (2, 3, 10, 101):
            values = [rng.uniform(-5, 500) for _ in range(n)]
            for p in (5, 50, 95, 99):
                assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)))


class TestSummarize:
    COUNTS = [
        (RunStatus.COMPLETED, JobType.SCREENER, 3),
        (RunStatus.FAILED, JobType.SCREENER, 1),
        (RunStatus.SKIPPED, JobType.SCREENER, 1),
        (RunStatus.RUNNING, JobType.SCREENER, 1),
        (RunStatus.CANCELLED, JobType.REPORT, 2),
    ]
    STARTED = [
        times(created=0, started=2, finished=12),  # ad hoc: 10 s long, 2 s late
        times(created=55, scheduled=60, started=61, finished=81),  # a tick: 20 s, 1 s late
        times(created=0, started=5),  # still running: 5 s late, no duration yet
    ]

    def test_counts_name_every_status_and_job_type_with_zeros(self) -> None:
        stats = summarize(self.COUNTS, self.STARTED)

        assert stats.total_runs == 8
        assert stats.status_counts == {
            "pending": 0,
            "running": 1,
            "completed": 3,
            "failed": 1,
            "cancelled": 2,
            "crashed": 0,
            "skipped": 1,
            "dead_lettered": 0,
        }
        assert stats.job_type_counts == {
            "screener": 6,
            "report": 2,
            "analysis": 0,
            "maintenance": 0,
        }

    def test_success_rate_counts_completed_against_failed_crashed_and_dead_lettered(self) -> None:
        assert summarize(self.COUNTS, []).success_rate == 0.75

    def test_success_rate_is_none_when_nothing_completed_failed_or_crashed(self) -> None:
        counts = [(RunStatus.CANCELLED, JobType.REPORT, 2), (RunStatus.SKIPPED, JobType.REPORT, 1)]
        assert summarize(counts, []).success_rate is None

    def test_durations_are_finished_minus_started_over_finished_runs(self) -> None:
        screener = summarize(self.COUNTS, self.STARTED).by_job_type["screener"]

        assert screener.runs == 6
        assert screener.duration_seconds.p50 == 15.0
        assert screener.duration_seconds.p95 == pytest.approx(19.5)

    def test_lateness_is_measured_from_the_tick_when_scheduled_else_from_creation(self) -> None:
        screener = summarize(self.COUNTS, self.STARTED).by_job_type["screener"]

        # lateness [2, 1, 5] -> sorted [1, 2, 5]; p95: h = 1.9 -> 2 + 0.9 * 3
        assert screener.start_lateness_seconds.p50 == 2.0
        assert screener.start_lateness_seconds.p95 == pytest.approx(4.7)

    def test_job_type_without_started_runs_has_null_percentiles(self) -> None:
        report = summarize(self.COUNTS, self.STARTED).by_job_type["report"]

        assert report.runs == 2
        assert report.duration_seconds == Spread(None, None)
        assert report.start_lateness_seconds == Spread(None, None)

    def test_nothing_at_all_is_zeros_and_nulls(self) -> None:
        stats = summarize([], [])

        assert stats.total_runs == 0
        assert set(stats.status_counts.values()) == {0}
        assert stats.success_rate is None
        assert stats.by_job_type["screener"].runs == 0


def _run(owner: User, status: RunStatus, created: float, **fields: Any) -> Run:
    return Run(
        id=uuid.uuid4(),
        owner_id=owner.id,
        job_type=fields.pop("job_type", JobType.SCREENER),
        target="tech_majors",
        status=status,
        priority="default",
        snapshot={"tickers": ["AAPL"] * 500},
        created_at=at(created),
        updated_at=at(created),
        **fields,
    )


async def _query_on_sqlite(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            ann, ben = User(name="ann"), User(name="ben")
            session.add_all([ann, ben])
            await session.flush()
            session.add_all(
                [
                    _run(ann, RunStatus.COMPLETED, 0, started_at=at(2), finished_at=at(12)),
                    _run(
                        ann,
                        RunStatus.SKIPPED,
                        55,
                        schedule_id=uuid.uuid4(),
                        scheduled_for=at(60),
                        reason="market closed",
                    ),
                    _run(ann, RunStatus.RUNNING, 70, started_at=at(75)),
                    _run(ann, RunStatus.COMPLETED, -90_000, started_at=at(-89_000)),
                    _run(ben, RunStatus.FAILED, 5, started_at=at(6), finished_at=at(7)),
                ]
            )
            await session.commit()
            since = at(-60)
            page = await repository.list_page(
                session, repository.RunFilter(owner_name="ann"), limit=2, offset=0
            )
            return {
                "started": await repository.started_times(session, since, ann.id),
                "everyone": await repository.started_times(session, since),
                "counts": await repository.counts_by_status_and_type(session, since, ann.id),
                "page": [(run.status, run.reason, name) for run, name in page],
                "total": await repository.count(session, repository.RunFilter(owner_name="ann")),
                "skipped": await repository.count(
                    session, repository.RunFilter(statuses=(RunStatus.SKIPPED,), until=at(56))
                ),
            }
    finally:
        await engine.dispose()


class TestStatisticsQueriesOnSqlite:
    def test_started_runs_and_counts_feed_summarize(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'flowdesk.db'}"
        upgrade(url)

        found = asyncio.run(_query_on_sqlite(url))

        assert sorted(t.start_lateness_seconds for t in found["started"]) == [2.0, 5.0]
        assert [t.duration_seconds for t in found["started"] if t.finished_at] == [10.0]
        assert len(found["everyone"]) == 3
        stats = summarize(found["counts"], found["started"])
        assert stats.total_runs == 3
        assert stats.status_counts["skipped"] == 1
        assert stats.success_rate == 1.0
        assert found["page"] == [
            (RunStatus.RUNNING, None, "ann"),
            (RunStatus.SKIPPED, "market closed", "ann"),
        ]
        assert found["total"] == 4
        assert found["skipped"] == 1
