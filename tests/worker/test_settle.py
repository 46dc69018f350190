"""A flow run its engine left `Cancelling` is finished where it ran: hooks, then Cancelled.

Against the test stack's Prefect server. (The race that leaves a run so, a cancel landing
as the run proposes its final state, is timing: see TestCancelledAsItEnds for the whole
path through the worker, which must end Cancelled whichever way the race goes.)
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prefect import flow
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Cancelling, Completed, Running

from flowdesk.worker.settle import settle_cancelling
from tests.stack import Stack

HOOK_CALLS: list[tuple[uuid.UUID, str]] = []


def record_hook(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    HOOK_CALLS.append((flow_run.id, str(state.name)))


@flow(name="flowdesk-test-settle", on_cancellation=[record_hook])
def settled() -> None:
    """Never run: its hooks are what settle_cancelling calls."""


async def _flow_run_in(api_url: str, *states: State[Any]) -> uuid.UUID:
    async with PrefectClient(api_url) as client:
        flow_run = await client.create_flow_run(settled)
        for state in states:
            await client.set_flow_run_state(flow_run.id, state, force=True)
    return flow_run.id


async def _settle(api_url: str, flow_run_id: uuid.UUID) -> tuple[bool, StateType | None]:
    with temporary_settings({PREFECT_API_URL: api_url}):
        settled_now = await settle_cancelling(settled, flow_run_id)
        await APILogHandler.aflush()  # its log line, while the API is still set
    async with PrefectClient(api_url) as client:
        flow_run = await client.read_flow_run(flow_run_id)
    return settled_now, flow_run.state.type if flow_run.state else None


class TestSettleCancelling:
    def test_a_run_left_cancelling_runs_its_hooks_and_is_cancelled(self, stack: Stack) -> None:
        flow_run_id = asyncio.run(
            _flow_run_in(stack.prefect_api_url, Running(), Cancelling(message="by alice"))
        )

        settled_now, state = asyncio.run(_settle(stack.prefect_api_url, flow_run_id))

        assert settled_now is True
        assert state is StateType.CANCELLED
        assert (flow_run_id, "Cancelling") in HOOK_CALLS

    def test_a_run_that_ended_otherwise_is_left_as_it_is(self, stack: Stack) -> None:
        flow_run_id = asyncio.run(_flow_run_in(stack.prefect_api_url, Running(), Completed()))

        settled_now, state = asyncio.run(_settle(stack.prefect_api_url, flow_run_id))

        assert settled_now is False
        assert state is StateType.COMPLETED
        assert all(called != flow_run_id for called, _ in HOOK_CALLS)
