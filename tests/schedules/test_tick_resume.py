"""A tick's flow run that a stopping worker handed back finds its own run again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import JobType, Run, RunStatus, Schedule, User
from flowdesk.schedules.ticks import record_tick

TICK = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a tick of "0 * * * *"


async def _ticks(url: str) -> list[tuple[uuid.UUID | None, RunStatus | None]]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    first, second = uuid.uuid4(), uuid.uuid4()
    try:
        async with sessions() as session:
            owner = User(name="ann")
            session.add(owner)
            await session.flush()
            schedule = Schedule(
                owner_id=owner.id,
                name="hourly",
                slug=f"hourly-{uuid.uuid4().hex[:8]}",
                job_type=JobType.SCREENER,
                target="tech_majors",
                task_params={},
                cron="0 * * * *",
                stale_after_seconds=60,
            )
            session.add(schedule)
            await session.commit()
        params = {"schedule_id": str(schedule.id), "target": "tech_majors", "task_params": {}}
        seen: list[tuple[uuid.UUID | None, RunStatus | None]] = []
        # The tick's flow run records it on time; a second flow run of the same tick gets
        # nothing; the first, handed back and started again 10 minutes later (past
        # stale_after), resumes its own run instead of being judged stale.
        for flow_run_id, late in ((first, 1), (second, 2), (first, 600)):
            async with sessions() as session:
                run: Run | None = await record_tick(
                    session,
                    job_type=JobType.SCREENER,
                    params=params,
                    flow_run_id=flow_run_id,
                    deployment="screener/hourly",
                    scheduled_for=TICK,
                    now=TICK + timedelta(seconds=late),
                )
                await session.commit()
                seen.append((run.id, run.status) if run else (None, None))
        return seen
    finally:
        await engine.dispose()


def test_handed_back_tick_resumes_its_run_and_no_other_flow_run_gets_it(
    fresh_database_url: str,
) -> None:
    upgrade(fresh_database_url)
    (recorded, status), duplicate, resumed = asyncio.run(_ticks(fresh_database_url))
    assert status is RunStatus.RUNNING
    assert duplicate == (None, None)
    assert resumed == (recorded, RunStatus.RUNNING)
