"""DELETE /api/runs/{id}: a pending run never starts, a running one is stopped by Prefect."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from tests.factories import TERMINAL, submit_screener, wait_for_flow_run, wait_for_run
from tests.stack import Stack, pause_queue

pytestmark = pytest.mark.stack

# The row is `running` for about 0.5 s of a screener over a large set (measured: the
# claim-to-hook window of us_large_caps was 0.45-0.6 s), so poll well inside that.
ROW_POLL_S = 0.01
ATTEMPTS = 3
PREFECT_TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


async def _read_flow_run(stack: Stack, flow_run_id: str) -> FlowRun:
    async with PrefectClient(stack.prefect_api_url) as client:
        return await client.read_flow_run(uuid.UUID(flow_run_id))


def prefect_state(stack: Stack, flow_run_id: str) -> str:
    flow_run = asyncio.run(_read_flow_run(stack, flow_run_id))
    assert flow_run.state_type is not None
    return flow_run.state_type.value


def wait_for_prefect_state(
    stack: Stack, flow_run_id: str, states: set[str], timeout: float = 120, poll: float = 0.25
) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = prefect_state(stack, flow_run_id)
        if state in states:
            return state
        time.sleep(poll)
    raise AssertionError(f"flow run {flow_run_id} never reached {states}: it is {state}")


def snapshot_dsn(stack: Stack) -> str:
    return stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def wait_for_row_to_leave_pending(stack: Stack, run_id: str, timeout: float = 120) -> str:
    """The row's first status after `pending`, read straight from Postgres to be quick."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(snapshot_dsn(stack), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,)).fetchone()
            assert row is not None, f"no row for run {run_id}"
            if row[0] != "pending":
                return str(row[0])
            time.sleep(ROW_POLL_S)
    raise AssertionError(f"run {run_id} still pending after {timeout} s")


async def _give_own_environment(stack: Stack, flow_run_id: str) -> None:
    async with PrefectClient(stack.prefect_api_url) as client:
        await client.update_flow_run(
            uuid.UUID(flow_run_id),
            job_variables={"env": {"FLOWDESK_TEST_COLD_EXECUTOR": uuid.uuid4().hex}},
        )


def cancel_while_the_worker_starts_it(
    alice: httpx.Client, stack: Stack
) -> tuple[str, str, httpx.Response]:
    """DELETE a run while Prefect shows it PENDING: taken by the worker, process starting.

    A warm executor turns PENDING into RUNNING within milliseconds, so the run is given
    an environment of its own while its queue is paused: the worker has to start a new
    executor for it (a fork and a warm-up, a few hundred ms here), which polling at 50 ms
    nearly always sees. A run seen later is let finish and another one submitted.
    """
    seen: list[str] = []
    for _ in range(ATTEMPTS):
        asyncio.run(pause_queue(stack, paused=True))
        try:
            run_id = submit_screener(alice)
            flow_run_id = wait_for_flow_run(alice, run_id)
            asyncio.run(_give_own_environment(stack, flow_run_id))
        finally:
            asyncio.run(pause_queue(stack, paused=False))
        state = wait_for_prefect_state(
            stack, flow_run_id, {"PENDING", "RUNNING", *PREFECT_TERMINAL}, poll=0.05
        )
        if state == "PENDING":
            return run_id, flow_run_id, alice.delete(f"/api/runs/{run_id}")
        seen.append(state)
        wait_for_run(alice, run_id)
    raise AssertionError(f"never saw a run PENDING in {ATTEMPTS} attempts: {seen}")


def row_status(stack: Stack, run_id: str) -> str:
    with psycopg.connect(snapshot_dsn(stack)) as conn:
        row = conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None, f"no row for run {run_id}"
    return str(row[0])


@contextmanager
def slow_commit_of(stack: Stack, run_id: str, seconds: float) -> Iterator[None]:
    """Every transaction that updates this run's row takes `seconds` longer to commit.

    A deferred constraint trigger runs at COMMIT: it shows whether a response was sent
    before or after its transaction was committed.
    """
    name = f"slow_commit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(snapshot_dsn(stack), autocommit=True) as conn:
        conn.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$"
        )
        conn.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER UPDATE ON runs "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN (NEW.id = '{uuid.UUID(run_id)}'::uuid) EXECUTE FUNCTION {name}()"
        )
        try:
            yield
        finally:
            conn.execute(f"DROP TRIGGER {name} ON runs")
            conn.execute(f"DROP FUNCTION {name}()")


class TestCancelPendingRun:
    def test_pending_run_is_cancelled_at_once_and_never_executes(
        self, alice: httpx.Client, stack: Stack, paused_default_queue: None
    ) -> None:
        run_id = submit_screener(alice)
        flow_run_id = wait_for_flow_run(alice, run_id)
        assert prefect_state(stack, flow_run_id) == "SCHEDULED"

        response = alice.delete(f"/api/runs/{run_id}")

        assert response.status_code == 202, response.text
        body = response.json()
        assert body["run_id"] == run_id
        assert body["status"] == "cancelled"
        # A scheduled flow run has no process to stop: Prefect cancels it outright.
        assert prefect_state(stack, flow_run_id) == "CANCELLED"
        asyncio.run(pause_queue(stack, paused=False))
        # A run submitted after it completing proves the worker serves the queue again.
        later = wait_for_run(alice, submit_screener(alice))
        assert later["status"] == "completed", later
        run = alice.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "cancelled"
        assert run["error"] == "cancelled by alice"
        assert run["started_at"] is None
        assert run["result"] is None
        assert run["artifacts"] == []
        assert prefect_state(stack, flow_run_id) == "CANCELLED"

    def test_run_the_worker_is_starting_is_cancelled_before_its_claim(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        run_id, _, response = cancel_while_the_worker_starts_it(alice, stack)

        assert response.status_code == 202, response.text
        assert response.json()["status"] == "cancelled"
        run = wait_for_run(alice, run_id)
        assert run["status"] == "cancelled"
        assert run["started_at"] is None, "the flow never claimed the cancelled row"
        assert run["result"] is None
        assert run["artifacts"] == []

    def test_flow_run_cancelled_while_its_process_starts_ends_cancelled_in_prefect(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        _, flow_run_id, response = cancel_while_the_worker_starts_it(alice, stack)
        assert response.status_code == 202, response.text

        # Needs PREFECT_WORKER_ENABLE_CANCELLATION on the worker (off by default in 3.8):
        # without it the engine exits on Cancelling and the run stays Cancelling for ever.
        final = wait_for_prefect_state(stack, flow_run_id, PREFECT_TERMINAL, timeout=20)

        assert final == "CANCELLED"

    def test_cancel_is_committed_before_it_is_answered(
        self, alice: httpx.Client, stack: Stack, paused_default_queue: None
    ) -> None:
        run_id = submit_screener(alice)
        with slow_commit_of(stack, run_id, seconds=2):
            response = alice.delete(f"/api/runs/{run_id}")
            stored = row_status(stack, run_id)

        assert response.status_code == 202, response.text
        assert response.json()["status"] == "cancelled"
        assert stored == "cancelled", "the 202 came before the cancel was committed"


class TestCancelRunningRun:
    def test_running_run_ends_cancelled_in_flowdesk_and_prefect(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        outcomes: list[str] = []
        for _ in range(ATTEMPTS):
            outcome = self._cancel_once_running(alice, stack)
            outcomes.append(outcome)
            if outcome == "cancelled":
                break
        assert "cancelled" in outcomes, (
            f"never caught a running run in {ATTEMPTS} attempts: {outcomes}"
        )

    @staticmethod
    def _cancel_once_running(alice: httpx.Client, stack: Stack) -> str:
        """Submit, DELETE as soon as the row is `running`; what became of the run."""
        run_id = submit_screener(alice, screener_set="us_large_caps")
        first = wait_for_row_to_leave_pending(stack, run_id)
        if first != "running":
            return f"missed: went straight to {first}"
        response = alice.delete(f"/api/runs/{run_id}")
        run = wait_for_run(alice, run_id)
        flow_run_id = run["prefect"]["flow_run_id"]
        if response.status_code == 409:
            assert response.json()["error"] == "RunNotCancellable", response.text
            assert run["status"] in TERMINAL - {"cancelled"}
            return f"finished first: {run['status']}"
        assert response.status_code == 202, response.text
        assert response.json()["status"] in {"running", "cancelled"}
        final = wait_for_prefect_state(stack, flow_run_id, PREFECT_TERMINAL)
        # The row always ends as Prefect does, whichever won the race.
        assert run["status"] == final.lower(), (run, final)
        if run["status"] != "cancelled":
            return f"finished during the cancel: {run['status']}"
        assert run["error"]
        assert run["finished_at"] is not None
        return "cancelled"


class TestCancelFinishedRun:
    def test_cancel_finished_run_is_409(self, alice: httpx.Client) -> None:
        run = wait_for_run(alice, submit_screener(alice))
        assert run["status"] == "completed", run

        response = alice.delete(f"/api/runs/{run['run_id']}")

        assert response.status_code == 409, response.text
        body: dict[str, Any] = response.json()
        assert body["error"] == "RunNotCancellable"
        assert "completed" in body["detail"]
        assert alice.get(f"/api/runs/{run['run_id']}").json()["status"] == "completed"

    def test_cancel_someone_elses_run_is_404(self, alice: httpx.Client, bob: httpx.Client) -> None:
        run_id = submit_screener(alice)

        response = bob.delete(f"/api/runs/{run_id}")

        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"
        assert alice.get(f"/api/runs/{run_id}").json()["status"] != "cancelled"
