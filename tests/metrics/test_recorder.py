"""Metric samples in the database: exact sums under concurrency, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import JobType, Run, RunStatus, Schedule, User
from flowdesk.db.types import utcnow
from flowdesk.metrics import (
    ERRORS_TOTAL,
    JOB_DURATION_SECONDS,
    JOBS_TOTAL,
    increment,
    observe,
    record_insights,
    record_task,
    render,
)
from flowdesk.metrics.recorder import Changes, canonical, parse, read_samples
from flowdesk.runs import repository
from flowdesk.schedules.ticks import record_tick

T = TypeVar("T")


def with_sessions(url: str, body: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run `body` against the migrated database at `url`."""
    upgrade(url)

    async def main() -> T:
        engine = make_engine(url)
        try:
            return await body(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], float]:
    async with sessions() as session:
        return {(s.name, canonical(s.labels)): s.value for s in await read_samples(session)}


async def rendered(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Each sample of the exposition by `name{labels}`."""
    async with sessions() as session:
        text = (await render(session, workers_online=None)).decode()
    return {
        f"{s.name}{{{canonical(s.labels)}}}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class TestLabels:
    def test_canonical_sorts_by_name(self) -> None:
        assert canonical({"status": "completed", "job_type": "screener"}) == (
            'job_type="screener",status="completed"'
        )

    def test_values_are_escaped_as_the_text_format_requires(self) -> None:
        assert canonical({"type": 'a"b\\c\nd'}) == 'type="a\\"b\\\\c\\nd"'

    def test_parse_inverts_canonical(self) -> None:
        labels = {"task": 'fetch "news"\\\n', "state": "failed"}
        assert parse(canonical(labels)) == labels

    def test_parse_refuses_a_string_it_did_not_write(self) -> None:
        with pytest.raises(ValueError, match="canonical"):
            parse('b="1",a="2"')

    def test_labels_wider_than_the_column_are_refused(self) -> None:
        with pytest.raises(ValueError, match="longer than 512"):
            canonical({"type": "x" * 600})


class TestValidation:
    def test_unknown_metric_name_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="unknown metric 'flowdesk_nope_total'"):
            Changes().increment("flowdesk_nope_total", {})

    def test_missing_or_extra_label_names_are_an_error(self) -> None:
        with pytest.raises(ValueError, match=r"takes labels \['job_type', 'status'\]"):
            Changes().increment(JOBS_TOTAL, {"job_type": "screener"})
        with pytest.raises(ValueError, match="takes labels"):
            Changes().increment(ERRORS_TOTAL, {"type": "failed", "extra": "x"})

    def test_a_counter_only_grows(self) -> None:
        with pytest.raises(ValueError, match="only grows"):
            Changes().increment(ERRORS_TOTAL, {"type": "failed"}, -1)

    def test_increment_takes_a_counter_and_observe_a_histogram(self) -> None:
        with pytest.raises(ValueError, match="not a counter"):
            Changes().increment(JOB_DURATION_SECONDS, {"job_type": "screener"})
        with pytest.raises(ValueError, match="not a histogram"):
            Changes().observe(ERRORS_TOTAL, {"type": "failed"}, 1.0)


class TestIncrement:
    def test_increments_add_up_per_label_set(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], float]:
            async with sessions() as session:
                await increment(session, ERRORS_TOTAL, {"type": "failed"})
                await increment(session, ERRORS_TOTAL, {"type": "failed"}, 2)
                await increment(session, "flowdesk_errors_total", {"type": "crashed"})
                await record_insights(session, {"trial_result": 3, "fda_approval": 0})
                await session.commit()
            return await stored(sessions)

        assert with_sessions(fresh_database_url, body) == {
            ("flowdesk_errors_total", 'type="failed"'): 3.0,
            ("flowdesk_errors_total", 'type="crashed"'): 1.0,
            ("flowdesk_insights_generated_total", 'event_type="trial_result"'): 3.0,
        }

    def test_a_rolled_back_transaction_counts_nothing(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], float]:
            async with sessions() as session:
                await increment(session, ERRORS_TOTAL, {"type": "failed"})
                await session.rollback()
            return await stored(sessions)

        assert with_sessions(fresh_database_url, body) == {}

    def test_concurrent_sessions_end_with_the_exact_sum(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], float]:
            async def writer() -> None:
                for _ in range(25):
                    async with sessions() as session:
                        await increment(session, ERRORS_TOTAL, {"type": "failed"})
                        await asyncio.sleep(0)  # let the other writer run into the row lock
                        await session.commit()

            await asyncio.gather(writer(), writer())
            return await stored(sessions)

        assert with_sessions(fresh_database_url, body) == {
            ("flowdesk_errors_total", 'type="failed"'): 50.0
        }


class TestObserve:
    def test_rendered_buckets_are_cumulative(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
            async with sessions() as session:
                for seconds in (0.3, 0.5, 4.0, 45.0, 4000.0):
                    await observe(session, JOB_DURATION_SECONDS, {"job_type": "report"}, seconds)
                await session.commit()
            return await rendered(sessions)

        samples = with_sessions(fresh_database_url, body)
        bucket = 'flowdesk_job_duration_seconds_bucket{{job_type="report",le="{}"}}'.format
        # 0.3 and 0.5 are <= 0.5 (le is inclusive); 4000 only in +Inf.
        assert samples[bucket("0.5")] == 2
        assert samples[bucket("2.0")] == 2
        assert samples[bucket("5.0")] == 3
        assert samples[bucket("60.0")] == 4
        assert samples[bucket("1800.0")] == 4
        assert samples[bucket("+Inf")] == 5
        assert samples['flowdesk_job_duration_seconds_count{job_type="report"}'] == 5
        assert samples['flowdesk_job_duration_seconds_sum{job_type="report"}'] == pytest.approx(
            4049.8
        )

    def test_record_task_counts_the_task_and_its_duration(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
            async with sessions() as session:
                await record_task(session, "fetch_news", "completed", 0.2)
                await record_task(session, "fetch_news", "failed", 12.0)
                await session.commit()
            return await rendered(sessions)

        samples = with_sessions(fresh_database_url, body)
        assert samples['flowdesk_tasks_total{state="completed",task="fetch_news"}'] == 1
        assert samples['flowdesk_tasks_total{state="failed",task="fetch_news"}'] == 1
        assert samples['flowdesk_task_duration_seconds_bucket{le="0.25",task="fetch_news"}'] == 1
        assert samples['flowdesk_task_duration_seconds_count{task="fetch_news"}'] == 2


async def add_run(session: AsyncSession, status: RunStatus, *, started: bool) -> Run:
    owner = User(id=uuid.uuid4(), name=f"user-{uuid.uuid4().hex[:8]}")
    session.add(owner)
    await session.flush()
    run = Run(
        id=uuid.uuid4(),
        owner_id=owner.id,
        job_type=JobType.SCREENER,
        target="tech_majors",
        status=status,
        snapshot={},
        artifacts=[],
        started_at=utcnow() - timedelta(seconds=3) if started else None,
    )
    session.add(run)
    await session.commit()
    return run


class TestFinish:
    def test_finish_counts_the_run_once(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
            async with sessions() as session:
                run = await add_run(session, RunStatus.RUNNING, started=True)
                assert await repository.finish(session, run.id, RunStatus.COMPLETED)
                await session.commit()
                assert not await repository.finish(session, run.id, RunStatus.FAILED, error="x")
                await session.commit()
            return await rendered(sessions)

        samples = with_sessions(fresh_database_url, body)
        assert samples['flowdesk_jobs_total{job_type="screener",status="completed"}'] == 1
        assert 'flowdesk_jobs_total{job_type="screener",status="failed"}' not in samples
        assert samples['flowdesk_job_duration_seconds_count{job_type="screener"}'] == 1
        assert samples['flowdesk_job_duration_seconds_sum{job_type="screener"}'] >= 3
        assert 'flowdesk_errors_total{type="failed"}' not in samples

    def test_a_failure_is_an_error_and_a_run_that_never_started_has_no_duration(
        self, fresh_database_url: str
    ) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
            async with sessions() as session:
                pending = await add_run(session, RunStatus.PENDING, started=False)
                assert await repository.finish(session, pending.id, RunStatus.DEAD_LETTERED)
                await session.commit()
            return await rendered(sessions)

        samples = with_sessions(fresh_database_url, body)
        assert samples['flowdesk_jobs_total{job_type="screener",status="dead_lettered"}'] == 1
        assert samples['flowdesk_errors_total{type="dead_lettered"}'] == 1
        assert not any(name.startswith("flowdesk_job_duration") for name in samples)

    def test_a_rolled_back_finish_counts_nothing(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
            async with sessions() as session:
                run = await add_run(session, RunStatus.RUNNING, started=True)
                assert await repository.finish(session, run.id, RunStatus.CRASHED)
                await session.rollback()
            return await rendered(sessions)

        assert not any(
            name.startswith("flowdesk_jobs") for name in with_sessions(fresh_database_url, body)
        )


TICK = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a tick of "0 * * * *"


async def tick(session: AsyncSession, target: str, now: datetime) -> Run | None:
    owner = User(id=uuid.uuid4(), name=f"user-{uuid.uuid4().hex[:8]}")
    session.add(owner)
    await session.flush()
    schedule = Schedule(
        id=uuid.uuid4(),
        owner_id=owner.id,
        name="hourly",
        slug=f"hourly-{uuid.uuid4().hex[:8]}",
        job_type=JobType.SCREENER,
        target=target,
        task_params={},
        cron="0 * * * *",
        stale_after_seconds=3600,
    )
    session.add(schedule)
    await session.flush()
    return await record_tick(
        session,
        job_type=JobType.SCREENER,
        params={"schedule_id": str(schedule.id), "target": target, "task_params": {}},
        flow_run_id=uuid.uuid4(),
        deployment="screener/hourly",
        scheduled_for=TICK,
        now=now,
    )


class TestTicks:
    def test_ticks_recorded_already_finished_are_counted(self, fresh_database_url: str) -> None:
        async def body(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
            async with sessions() as session:
                # Two hours late with stale_after 1 h: skipped.
                assert await tick(session, "tech_majors", TICK + timedelta(hours=2)) is None
                # On time, but the set is gone: recorded as failed.
                assert await tick(session, "no_such_set", TICK + timedelta(seconds=1)) is None
                # On time and valid: running, counted only when it finishes.
                assert await tick(session, "tech_majors", TICK + timedelta(seconds=1))
                await session.commit()
            return await rendered(sessions)

        samples = with_sessions(fresh_database_url, body)
        assert samples['flowdesk_jobs_total{job_type="screener",status="skipped"}'] == 1
        assert samples['flowdesk_jobs_total{job_type="screener",status="failed"}'] == 1
        assert samples['flowdesk_errors_total{type="failed"}'] == 1
        assert not any(name.startswith("flowdesk_job_duration") for name in samples)
        assert len([name for name in samples if name.startswith("flowdesk_jobs")]) == 2
