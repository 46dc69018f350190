"""Claiming a run: once per flow run, and again by the same flow run after a hand-back."""

from __future__ import annotations

import asyncio
import uuid

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import JobType, Run, RunStatus, User
from flowdesk.runs import repository


async def _claims(url: str) -> list[RunStatus | None]:
    engine = make_engine(url)
    first, second = uuid.uuid4(), uuid.uuid4()
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            owner = User(name="ann")
            session.add(owner)
            await session.flush()
            run_id = uuid.uuid4()
            session.add(
                Run(
                    id=run_id,
                    owner_id=owner.id,
                    job_type=JobType.SCREENER,
                    target="tech_majors",
                    status=RunStatus.PENDING,
                    priority="default",
                    snapshot={},
                    artifacts=[],
                )
            )
            await session.commit()
        seen: list[RunStatus | None] = []
        # The flow run claims it; a second flow run of the same run may not; the first
        # flow run, handed back and executed again, may; nobody may once it finished.
        for flow_run_id, finish_first in (
            (first, False),
            (second, False),
            (first, False),
            (first, True),
        ):
            async with sessions() as session:
                if finish_first:
                    assert await repository.finish(session, run_id, RunStatus.COMPLETED)
                claimed = await repository.claim(session, run_id, flow_run_id)
                await session.commit()
                seen.append(claimed.status if claimed else None)
        return seen
    finally:
        await engine.dispose()


def test_same_flow_run_reclaims_a_running_run_and_no_other_can(fresh_database_url: str) -> None:
    upgrade(fresh_database_url)
    assert asyncio.run(_claims(fresh_database_url)) == [
        RunStatus.RUNNING,
        None,
        RunStatus.RUNNING,
        None,
    ]
