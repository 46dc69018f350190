"""The API's submitter against the test stack's Prefect server and Postgres database.

The default queue is paused, so the flow runs created here stay where Prefect puts them
(Scheduled, or Cancelled) while the test reads them; they execute once it ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.db.models import JobType, Run, RunStatus
from flowdesk.errors import ServiceUnavailable
from flowdesk.orchestration import open_gateway
from flowdesk.runs import repository
from flowdesk.runs.submission import Submitter
from tests.factories import submit_screener, wait_for_run
from tests.stack import Stack

pytestmark = pytest.mark.usefixtures("paused_default_queue")


@pytest.fixture(scope="module")
def template(alice: httpx.Client) -> dict[str, Any]:
    """A completed run of alice's: its owner and snapshot make rows that would run."""
    return wait_for_run(alice, submit_screener(alice))


@asynccontextmanager
async def submitter_on(
    stack: Stack,
) -> AsyncIterator[tuple[Submitter, async_sessionmaker[AsyncSession]]]:
    engine = make_engine(stack.env["FLOWDESK_DATABASE_URL"])
    sessions = session_factory(engine)
    try:
        async with open_gateway(stack.prefect_api_url, 10) as gateway:
            yield Submitter(gateway, sessions), sessions
    finally:
        await engine.dispose()


async def stored_run(
    sessions: async_sessionmaker[AsyncSession],
    template: dict[str, Any],
    *,
    status: RunStatus = RunStatus.PENDING,
    deployment: str | None = None,
) -> Run:
    async with sessions() as session:
        owner = await session.get(Run, uuid.UUID(template["run_id"]))
        assert owner is not None
        run = Run(
            id=uuid.uuid4(),
            owner_id=owner.owner_id,
            job_type=JobType.SCREENER,
            status=status,
            priority="default",
            snapshot=template["snapshot"],
            artifacts=[],
            prefect_deployment=deployment,
        )
        await repository.add(session, run)
        await session.commit()
    return run


async def stored_flow_run_id(
    sessions: async_sessionmaker[AsyncSession], run: Run
) -> uuid.UUID | None:
    async with sessions() as session:
        return await repository.flow_run_of(session, run.id)


async def prefect_state(stack: Stack, flow_run_id: uuid.UUID) -> str:
    async with PrefectClient(stack.prefect_api_url) as client:
        flow_run = await client.read_flow_run(flow_run_id)
    assert flow_run.state is not None
    return flow_run.state.type.value


class TestSubmitter:
    def test_the_first_flow_run_is_created_in_the_call_the_next_ones_after_it(
        self, stack: Stack, template: dict[str, Any]
    ) -> None:
        async def scenario() -> None:
            async with submitter_on(stack) as (submitter, sessions):
                first = await submitter.submit(await stored_run(sessions, template), "alice")
                assert first.prefect_flow_run_id is not None
                assert await stored_flow_run_id(sessions, first) == first.prefect_flow_run_id

                second = await submitter.submit(await stored_run(sessions, template), "alice")
                assert second.prefect_flow_run_id is None, "answered before Prefect was asked"
                assert submitter.backlog == 1
                await submitter.drain(30)
                assert submitter.backlog == 0
                recorded = await stored_flow_run_id(sessions, second)
                assert recorded is not None
                assert await prefect_state(stack, recorded) == "SCHEDULED"

        asyncio.run(scenario())

    def test_a_run_cancelled_while_its_flow_run_was_created_gets_it_cancelled(
        self, stack: Stack, template: dict[str, Any]
    ) -> None:
        async def scenario() -> None:
            async with submitter_on(stack) as (submitter, sessions):
                # The cancel committed while Prefect was creating the flow run (the first
                # submission of a submitter is created within the call, with no check).
                run = await stored_run(sessions, template, status=RunStatus.CANCELLED)
                await submitter.submit(run, "alice")
                flow_run_id = await stored_flow_run_id(sessions, run)
                assert flow_run_id is not None
                assert await prefect_state(stack, flow_run_id) == "CANCELLED"

        asyncio.run(scenario())

    def test_a_run_cancelled_while_it_waited_never_reaches_prefect(
        self, stack: Stack, template: dict[str, Any]
    ) -> None:
        async def scenario() -> None:
            async with submitter_on(stack) as (submitter, sessions):
                await submitter.submit(await stored_run(sessions, template), "alice")
                run = await stored_run(sessions, template, status=RunStatus.CANCELLED)
                await submitter.submit(run, "alice")
                await submitter.drain(30)
                assert await stored_flow_run_id(sessions, run) is None

        asyncio.run(scenario())

    def test_a_failed_background_creation_leaves_the_run_pending_and_the_next_waits(
        self, stack: Stack, template: dict[str, Any]
    ) -> None:
        async def scenario() -> None:
            async with submitter_on(stack) as (submitter, sessions):
                await submitter.submit(await stored_run(sessions, template), "alice")
                # Accepted while Prefect answered; creating its flow run then fails.
                doomed = await stored_run(sessions, template, deployment="screener/nowhere")
                await submitter.submit(doomed, "alice")
                await submitter.drain(30)
                async with sessions() as session:
                    row = await repository.get(session, doomed.id)
                assert row is not None
                assert row.status is RunStatus.PENDING, "kept for the reconciler"
                assert row.prefect_flow_run_id is None

                # After a failure the caller waits for Prefect again, and hears of it.
                refused = await stored_run(sessions, template, deployment="screener/nowhere")
                with pytest.raises(ServiceUnavailable, match="no deployment 'screener/nowhere'"):
                    await submitter.submit(refused, "alice")
                recovered = await submitter.submit(await stored_run(sessions, template), "alice")
                assert recovered.prefect_flow_run_id is not None, "created within the call"
                # Not left for the reconciler to retry against a deployment that never comes.
                async with sessions() as session:
                    for run in (doomed, refused):
                        await repository.finish(session, run.id, RunStatus.CANCELLED)
                    await session.commit()

        asyncio.run(scenario())
