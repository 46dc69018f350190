"""Run rows catch up with Prefect's state when no flow hook could write it (a killed worker)."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import State
from prefect.states import Cancelled, Completed, Crashed, Failed, Running, Scheduled

from flowdesk.db.engine import make_engine, session_factory
from flowdesk.orchestration import FlowRunState, PrefectGateway
from flowdesk.runs.reconcile import reconcile_open_runs
from tests.factories import submit_screener, wait_for_flow_run, wait_for_run
from tests.stack import Stack

pytestmark = pytest.mark.stack

DEPLOYMENT = "screener/adhoc"
# api/main.py reconciles open runs every FLOWDESK_RECONCILE_INTERVAL_SECONDS (30 s by
# default); a row must be repaired within one interval plus this margin for the pass.
RECONCILE_PASS_MARGIN_S = 15.0
# The row is `running` for about 0.5 s of a us_large_caps screener: poll well inside that.
ROW_POLL_S = 0.01
ATTEMPTS = 3


def snapshot_dsn(stack: Stack) -> str:
    return stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def row_of(stack: Stack, run_id: uuid.UUID | str) -> dict[str, Any]:
    with psycopg.connect(snapshot_dsn(stack)) as conn:
        cursor = conn.execute(
            "SELECT status, error, finished_at FROM runs WHERE id = %s", (str(run_id),)
        )
        row = cursor.fetchone()
    assert row is not None, f"no row for run {run_id}"
    return dict(zip(("status", "error", "finished_at"), row, strict=True))


def insert_open_run(stack: Stack, owner: str, run_id: uuid.UUID, flow_run_id: uuid.UUID) -> None:
    """A `running` row as a flow's claim leaves it, written straight to Postgres."""
    now = datetime.now(UTC)
    with psycopg.connect(snapshot_dsn(stack)) as conn:
        inserted = conn.execute(
            "INSERT INTO runs (id, owner_id, job_type, status, priority, snapshot, artifacts, "
            "prefect_flow_run_id, prefect_deployment, created_at, started_at, updated_at) "
            "SELECT %s, id, 'screener', 'running', 'default', '{}', '[]', %s, %s, %s, %s, %s "
            "FROM users WHERE name = %s",
            (run_id, flow_run_id, DEPLOYMENT, now, now, now, owner),
        ).rowcount
    assert inserted == 1, f"no user {owner!r}"


async def _park_flow_run(stack: Stack, run_id: uuid.UUID) -> uuid.UUID:
    async with PrefectClient(stack.prefect_api_url) as client:
        deployment = await client.read_deployment_by_name(DEPLOYMENT)
        flow_run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"run_id": str(run_id)},
            # An hour out: no worker picks it up while the test runs.
            state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1)),
            tags=["flowdesk-test", "reconcile"],
        )
    return flow_run.id


async def _force_state(stack: Stack, flow_run_id: uuid.UUID, state: State[Any]) -> None:
    async with PrefectClient(stack.prefect_api_url) as client:
        # Set through the API, so no flow process exists to run a state hook.
        await client.set_flow_run_state(flow_run_id, state, force=True)


async def _prefect_state(stack: Stack, flow_run_id: str) -> str:
    async with PrefectClient(stack.prefect_api_url) as client:
        flow_run = await client.read_flow_run(uuid.UUID(flow_run_id))
    assert flow_run.state_type is not None
    return flow_run.state_type.value


def open_run_whose_flow_run_moved_on(stack: Stack, owner: str, state: State[Any]) -> uuid.UUID:
    """A running row whose flow run Prefect has put in `state` behind flowdesk's back.

    The row is written last, so a test reads it before the API's background reconciler
    (every FLOWDESK_RECONCILE_INTERVAL_SECONDS) is likely to have seen it.
    """
    run_id = uuid.uuid4()
    flow_run_id = asyncio.run(_park_flow_run(stack, run_id))
    asyncio.run(_force_state(stack, flow_run_id, state))
    insert_open_run(stack, owner, run_id, flow_run_id)
    return run_id


def wait_for_row_status(stack: Stack, run_id: uuid.UUID, status: str, timeout: float = 10) -> str:
    """The row's status once it is `status`, or the last one seen after timeout.

    The API commits a request's unit of work after it has sent the response, so the row
    can lag the answer by a moment.
    """
    deadline = time.monotonic() + timeout
    current = row_of(stack, run_id)["status"]
    while current != status and time.monotonic() < deadline:
        time.sleep(0.1)
        current = row_of(stack, run_id)["status"]
    return str(current)


def reconcile_interval(stack: Stack) -> float:
    return float(stack.env.get("FLOWDESK_RECONCILE_INTERVAL_SECONDS", "30"))


def flow_run_process(stack: Stack, flow_run_id: str, timeout: float = 120) -> psutil.Process:
    """The process the worker started for the flow run: its pid as the worker gave it to
    Prefect (the flow run's infrastructure pid), in the stack's process tree."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = asyncio.run(_infrastructure_pid(stack, flow_run_id))
        if pid is not None:
            (process,) = [p for p in stack.process_tree() if p.pid == int(pid.rsplit(":", 1)[-1])]
            return process
        time.sleep(0.05)
    raise AssertionError(f"no process for flow run {flow_run_id} after {timeout} s")


async def _infrastructure_pid(stack: Stack, flow_run_id: str) -> str | None:
    async with PrefectClient(stack.prefect_api_url) as client:
        return (await client.read_flow_run(uuid.UUID(flow_run_id))).infrastructure_pid


def status_after_pending(stack: Stack, run_id: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    with psycopg.connect(snapshot_dsn(stack), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,)).fetchone()
            assert row is not None
            if row[0] != "pending":
                return str(row[0])
            time.sleep(ROW_POLL_S)
    raise AssertionError(f"run {run_id} still pending after {timeout} s")


class TestReconcileOnRead:
    @pytest.mark.parametrize(
        ("state", "status", "error"),
        [
            (Crashed(message="worker killed"), "crashed", "worker killed"),
            (Failed(message="ValueError: bad snapshot"), "failed", "ValueError: bad snapshot"),
            (Cancelled(message="stopped from the Prefect UI"), "cancelled", "stopped from the"),
            (Completed(), "completed", None),
        ],
        ids=["crashed", "failed", "cancelled", "completed"],
    )
    def test_open_run_takes_the_terminal_state_prefect_reached_without_a_hook(
        self,
        alice: httpx.Client,
        stack: Stack,
        state: State[Any],
        status: str,
        error: str | None,
    ) -> None:
        run_id = open_run_whose_flow_run_moved_on(stack, "alice", state)

        response = alice.get(f"/api/runs/{run_id}")

        assert response.status_code == 200, response.text
        run = response.json()
        assert run["status"] == status
        if error is None:
            assert run["error"] is None
        else:
            assert error in run["error"]
        assert run["finished_at"] is not None
        assert wait_for_row_status(stack, run_id, status) == status

    def test_open_run_whose_flow_run_is_still_running_stays_running(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        run_id = open_run_whose_flow_run_moved_on(stack, "alice", Running())

        run = alice.get(f"/api/runs/{run_id}").json()

        assert run["status"] == "running"
        assert run["finished_at"] is None
        # Leave nothing open for the background reconciler to trip over later.
        flow_run_id = uuid.UUID(run["prefect"]["flow_run_id"])
        asyncio.run(_force_state(stack, flow_run_id, Cancelled(message="test cleanup")))
        assert alice.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"

    def test_read_racing_a_hook_answers_what_the_hook_stored(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        run_id = uuid.uuid4()
        flow_run_id = asyncio.run(_park_flow_run(stack, run_id))
        insert_open_run(stack, "alice", run_id, flow_run_id)
        with psycopg.connect(snapshot_dsn(stack)) as hook:
            # A hook's finish, not yet committed: it holds the row while the read reconciles.
            hook.execute(
                "UPDATE runs SET status = 'crashed', error = 'from the hook', "
                "finished_at = now() WHERE id = %s",
                (run_id,),
            )
            asyncio.run(_force_state(stack, flow_run_id, Failed(message="from Prefect")))
            with ThreadPoolExecutor(1) as pool:
                read = pool.submit(alice.get, f"/api/runs/{run_id}")
                # The read loads the committed `running` row, asks Prefect, then its
                # UPDATE waits on the hook's lock; 1.5 s is ten times what that takes here.
                time.sleep(1.5)
                hook.commit()
                response = read.result(timeout=30)

        assert response.status_code == 200, response.text
        assert row_of(stack, run_id)["status"] == "crashed"
        assert response.json()["status"] == "crashed"
        assert response.json()["error"] == "from the hook"


class TestBackgroundReconciler:
    def test_run_nobody_reads_is_repaired_within_an_interval(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        run_id = open_run_whose_flow_run_moved_on(stack, "alice", Crashed(message="oom killed"))

        # Read through SQL only: a GET would reconcile the row itself.
        within = reconcile_interval(stack) + RECONCILE_PASS_MARGIN_S
        deadline = time.monotonic() + within
        row = row_of(stack, run_id)
        while row["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            row = row_of(stack, run_id)

        assert row["status"] == "crashed", f"not repaired within {within:g} s"
        assert row["error"] == "oom killed"
        assert row["finished_at"] is not None


class TestKilledFlowRun:
    def test_sigkilled_running_flow_run_ends_crashed(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        misses: list[str] = []
        for _ in range(ATTEMPTS):
            run_id = submit_screener(alice, screener_set="us_large_caps")
            flow_run_id = wait_for_flow_run(alice, run_id)
            process = flow_run_process(stack, flow_run_id)
            if status_after_pending(stack, run_id) != "running":
                misses.append(wait_for_run(alice, run_id)["status"])
                continue
            try:
                process.kill()
            except psutil.NoSuchProcess:
                misses.append(wait_for_run(alice, run_id)["status"])
                continue
            break
        else:
            pytest.skip(f"the screener finished before the kill in {ATTEMPTS} tries: {misses}")

        run = wait_for_run(alice, run_id)

        if run["status"] == "completed":
            # The kill landed after the flow had reported Completed: nothing to crash.
            assert asyncio.run(_prefect_state(stack, flow_run_id)) == "COMPLETED"
            pytest.skip("the SIGKILL landed after the flow run had completed")
        assert run["status"] == "crashed", run
        assert run["error"]
        assert run["finished_at"] is not None
        assert asyncio.run(_prefect_state(stack, flow_run_id)) == "CRASHED"


def flow_run_of_row(stack: Stack, run_id: uuid.UUID) -> uuid.UUID:
    with psycopg.connect(snapshot_dsn(stack)) as conn:
        row = conn.execute(
            "SELECT prefect_flow_run_id FROM runs WHERE id = %s", (str(run_id),)
        ).fetchone()
    assert row is not None
    assert row[0] is not None
    return uuid.UUID(str(row[0]))


class WatchingGateway(PrefectGateway):
    """The real gateway; when asked about `watched`, first reads `earlier`'s row from a
    connection of its own, as any other transaction would see it then."""

    def __init__(
        self, client: PrefectClient, stack: Stack, watched: uuid.UUID, earlier: uuid.UUID
    ) -> None:
        super().__init__(client, timeout=30)
        self.stack, self.watched, self.earlier = stack, watched, earlier
        self.earlier_row_then: dict[str, Any] | None = None

    async def flow_run_state(self, flow_run_id: uuid.UUID) -> FlowRunState | None:
        if flow_run_id == self.watched:
            self.earlier_row_then = await asyncio.to_thread(row_of, self.stack, self.earlier)
        return await super().flow_run_state(flow_run_id)


class TestReconcilePass:
    def test_each_repair_is_committed_before_prefect_is_asked_about_the_next_run(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        # Held to the end of the pass, a repair's locks (its row, the job counter) waited
        # on every later Prefect call and deadlocked with flows finishing their own rows.
        first = open_run_whose_flow_run_moved_on(stack, "alice", Crashed(message="first"))
        second = open_run_whose_flow_run_moved_on(stack, "alice", Crashed(message="second"))

        async def one_pass() -> WatchingGateway:
            engine = make_engine(stack.env["FLOWDESK_DATABASE_URL"])
            try:
                async with PrefectClient(stack.prefect_api_url) as client:
                    gateway = WatchingGateway(
                        client, stack, watched=flow_run_of_row(stack, second), earlier=first
                    )
                    async with session_factory(engine)() as session:
                        await reconcile_open_runs(session, gateway, older_than=timedelta(0))
            finally:
                await engine.dispose()
            return gateway

        gateway = asyncio.run(one_pass())

        # Rows are taken oldest first: the first run was repaired, and committed, before
        # the pass asked Prefect about the second.
        assert gateway.earlier_row_then is not None, "the pass never asked about the second"
        assert gateway.earlier_row_then["status"] == "crashed"
        assert row_of(stack, second)["status"] == "crashed"
