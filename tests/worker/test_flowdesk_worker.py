"""The flowdesk worker on the test stack's Prefect server, in a pool of its own.

Each test starts real `prefect worker start --type flowdesk` processes and runs the test
workload (tests/worker/workload.py) through them: a stopped worker finishes its run and
takes no new one; a run still going when the drain period ends is handed back and
completes on the next worker; a run that kills its own process is Crashed while the
run beside it in the same worker completes; warm executors run one run after another,
are not reused after a crash or for another environment, and pass on a suspension
requested from outside; a run cancelled just as it ends is Cancelled and runs its
cancellation hooks.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Suspended

from deployments.setup import base_job_template
from flowdesk.worker import FlowdeskWorker
from tests.stack import ROOT, Stack

WORKER_START_TIMEOUT = 60


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _pool_with_workload(api_url: str) -> tuple[str, uuid.UUID]:
    """A new flowdesk work pool and a deployment of the test workload in it."""
    name = f"test-worker-{uuid.uuid4().hex[:8]}"
    async with PrefectClient(api_url) as client:
        await client.create_work_pool(
            WorkPoolCreate(
                name=name, type=FlowdeskWorker.type, base_job_template=base_job_template()
            )
        )
        flow_id = await client.create_flow_from_name("flowdesk-test-workload")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=name,
            entrypoint="tests/worker/workload.py:workload",
            path=str(ROOT),
            work_pool_name=name,
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
            ],
        )
    return name, deployment_id


async def _submit(
    api_url: str,
    deployment_id: uuid.UUID,
    job_variables: dict[str, Any] | None = None,
    **parameters: Any,
) -> uuid.UUID:
    async with PrefectClient(api_url) as client:
        flow_run = await client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, job_variables=job_variables
        )
    return flow_run.id


async def _read(api_url: str, flow_run_id: uuid.UUID) -> FlowRun:
    async with PrefectClient(api_url) as client:
        return await client.read_flow_run(flow_run_id)


def wait_for(
    stack: Stack, flow_run_id: uuid.UUID, done: Callable[[FlowRun], bool], timeout: float = 60
) -> FlowRun:
    deadline = time.monotonic() + timeout
    while True:
        flow_run = run(_read(stack.prefect_api_url, flow_run_id))
        if done(flow_run):
            return flow_run
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {flow_run_id} still {flow_run.state!r}")
        time.sleep(0.2)


def submit_running(
    stack: Stack, deployment_id: uuid.UUID, journal: Path, seconds: float
) -> uuid.UUID:
    """A workload run of `seconds`, once Prefect has it Running."""
    flow_run_id: uuid.UUID = run(
        _submit(stack.prefect_api_url, deployment_id, journal=str(journal), seconds=seconds)
    )
    wait_for(stack, flow_run_id, lambda fr: state_type(fr) is StateType.RUNNING)
    return flow_run_id


def state_type(flow_run: FlowRun) -> StateType | None:
    return flow_run.state.type if flow_run.state else None


class Worker:
    """One `prefect worker start --type flowdesk` process on the pool; output to a file."""

    def __init__(
        self, stack: Stack, pool: str, drain_seconds: float, log: Path, poll_seconds: float = 0.5
    ) -> None:
        self.log = log
        env = {
            **stack.env,
            "FLOWDESK_WORKER_DRAIN_SECONDS": str(drain_seconds),
            "PREFECT_WORKER_QUERY_SECONDS": str(poll_seconds),
        }
        argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
        argv += ["--type", "flowdesk", "--limit", "4"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_for_output("started!", WORKER_START_TIMEOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker never said {text!r}:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float) -> int:
        """SIGTERM, as `flowdesk up` sends it; the exit code once it has gone."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def worker(
    stack: Stack, pool: str, drain_seconds: float, log: Path, poll_seconds: float = 0.5
) -> Iterator[Worker]:
    started = Worker(stack, pool, drain_seconds, log, poll_seconds)
    try:
        yield started
    finally:
        started.kill()


def journal_lines(journal: Path) -> list[str]:
    """'start|done <attempt>' per line, in order; the flow run ids checked separately."""
    if not journal.exists():
        return []
    return [
        " ".join((line.split()[0], line.split()[2]))
        for line in journal.read_text().split("\n")
        if line
    ]


@pytest.fixture
def workload_pool(stack: Stack) -> tuple[str, uuid.UUID]:
    """A work pool of this test's own, and the deployment of the test workload in it."""
    pool: tuple[str, uuid.UUID] = run(_pool_with_workload(stack.prefect_api_url))
    return pool


class TestGracefulStop:
    def test_stopped_worker_finishes_its_run_and_takes_no_new_one(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        journal = tmp_path / "journal"
        with worker(stack, pool, drain_seconds=60, log=tmp_path / "worker.log") as first:
            going = submit_running(stack, deployment_id, journal, seconds=3)
            first.process.send_signal(signal.SIGTERM)
            first.wait_for_output("stopping:", 10)
            later = run(
                _submit(stack.prefect_api_url, deployment_id, journal=str(tmp_path / "later"))
            )
            assert first.process.wait(timeout=30) == 0, first.output()[-3000:]
        assert state_type(run(_read(stack.prefect_api_url, going))) is StateType.COMPLETED
        assert journal_lines(journal) == ["start 1", "done 1"]
        untaken = run(_read(stack.prefect_api_url, later))
        assert state_type(untaken) is StateType.SCHEDULED, "a stopping worker takes no new run"
        assert not (tmp_path / "later").exists()

    def test_run_still_going_after_the_drain_is_handed_back_and_completes_on_the_next_worker(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        journal = tmp_path / "journal"
        with worker(stack, pool, drain_seconds=1, log=tmp_path / "first.log") as first:
            long = submit_running(stack, deployment_id, journal, seconds=600)
            began = time.monotonic()
            assert first.stop(timeout=30) == 0, first.output()[-3000:]
            stopped_in = time.monotonic() - began
        handed_back = run(_read(stack.prefect_api_url, long))
        assert handed_back.state is not None
        assert (handed_back.state.type, handed_back.state.name) == (
            StateType.SCHEDULED,
            "AwaitingRetry",
        )
        assert journal_lines(journal) == ["start 1"]
        assert stopped_in < 15, f"the worker took {stopped_in:.1f} s to hand back and stop"

        with worker(stack, pool, drain_seconds=30, log=tmp_path / "second.log"):
            finished = wait_for(stack, long, lambda fr: bool(fr.state and fr.state.is_final()))
        assert state_type(finished) is StateType.COMPLETED
        assert finished.run_count == 2
        assert journal_lines(journal) == ["start 1", "start 2", "done 2"]


class TestWarmIsolation:
    def test_a_run_that_kills_its_process_is_crashed_and_the_run_beside_it_completes(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log"):
            beside = submit_running(stack, deployment_id, tmp_path / "beside", seconds=3)
            dying = run(
                _submit(
                    stack.prefect_api_url,
                    deployment_id,
                    journal=str(tmp_path / "dying"),
                    crash=True,
                )
            )
            crashed = wait_for(stack, dying, lambda fr: bool(fr.state and fr.state.is_final()))
            completed = wait_for(stack, beside, lambda fr: bool(fr.state and fr.state.is_final()))
        assert state_type(crashed) is StateType.CRASHED
        assert crashed.state is not None
        assert "status code: 7" in (crashed.state.message or "")
        assert state_type(completed) is StateType.COMPLETED
        pids = {line.split()[3] for line in (tmp_path / "beside").read_text().split("\n") if line}
        dead = (tmp_path / "dying").read_text().split()[3]
        assert dead not in pids, "each flow run has a process of its own"

    def test_each_isolation_runs_where_it_says(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log") as serving:
            parents, parsed, contexts = {}, {}, {}
            for isolation in ("warm", "fork", "process"):
                journal = tmp_path / isolation
                done = run_to_end(stack, deployment_id, journal, {"isolation": isolation})
                assert state_type(done) is StateType.COMPLETED
                fields = journal.read_text().split()
                parents[isolation], parsed[isolation] = int(fields[4]), int(fields[5])
                contexts[isolation] = int(fields[6])
        # Warm and fork runs are the forkserver's children; a process run is the worker's.
        assert parents["process"] == serving.process.pid
        assert serving.process.pid not in (parents["warm"], parents["fork"])
        # The forkserver parsed the market data file once; a fresh interpreter has not.
        assert parsed == {"warm": 1, "fork": 1, "process": 0}
        # Every Prefect client of a warm or forked run (engine, logs, events, ...) shared
        # one verified TLS context; a fresh interpreter builds one per client as Prefect does.
        assert contexts == {"warm": 1, "fork": 1, "process": -1}


def run_to_end(
    stack: Stack,
    deployment_id: uuid.UUID,
    journal: Path,
    job_variables: dict[str, Any] | None = None,
    **parameters: Any,
) -> FlowRun:
    """A workload run submitted and waited for until final; then a moment for its
    executor to be back in the worker's idle list before the next run is submitted."""
    flow_run_id = run(
        _submit(
            stack.prefect_api_url, deployment_id, job_variables, journal=str(journal), **parameters
        )
    )
    done = wait_for(stack, flow_run_id, lambda fr: bool(fr.state and fr.state.is_final()))
    time.sleep(1.0)  # the run's outcome reaches the worker after its final state
    return done


def pid_of(journal: Path) -> int:
    """The pid of the process that ran the (first attempt of the) journal's run."""
    return int(journal.read_text().split()[3])


class TestWarmExecutors:
    def test_runs_one_after_another_share_an_executor(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log"):
            runs = [run_to_end(stack, deployment_id, tmp_path / f"run{i}") for i in range(3)]
        assert [state_type(done) for done in runs] == [StateType.COMPLETED] * 3
        assert len({pid_of(tmp_path / f"run{i}") for i in range(3)}) == 1

    def test_a_run_that_kills_its_executor_is_crashed_and_the_next_gets_a_new_one(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log"):
            crashed = run_to_end(stack, deployment_id, tmp_path / "dying", crash=True)
            after = run_to_end(stack, deployment_id, tmp_path / "after")
        assert state_type(crashed) is StateType.CRASHED
        assert crashed.state is not None
        assert "status code: 7" in (crashed.state.message or "")
        assert state_type(after) is StateType.COMPLETED
        assert pid_of(tmp_path / "after") != pid_of(tmp_path / "dying")

    def test_a_run_with_an_environment_of_its_own_gets_an_executor_of_its_own(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        own = {"env": {"FLOWDESK_TEST_MARK": "own"}}
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log"):
            run_to_end(stack, deployment_id, tmp_path / "plain")
            run_to_end(stack, deployment_id, tmp_path / "own", own)
            run_to_end(stack, deployment_id, tmp_path / "again")
        assert pid_of(tmp_path / "plain") == pid_of(tmp_path / "again")
        assert pid_of(tmp_path / "own") != pid_of(tmp_path / "plain")

    def test_a_new_run_is_taken_at_once_not_at_the_next_poll(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        with worker(stack, pool, 30, tmp_path / "worker.log", poll_seconds=60) as serving:
            time.sleep(3)  # past its first poll, and subscribed to its pool's due runs
            began = time.monotonic()
            done = run_to_end(stack, deployment_id, tmp_path / "soon")
            took = time.monotonic() - began - 1.0  # run_to_end waits 1 s after the end
        assert state_type(done) is StateType.COMPLETED, serving.output()[-3000:]
        assert took < 20, f"polling every 60 s, the run still took {took:.1f} s"

    def test_a_run_suspended_from_outside_stops_at_its_next_task(
        self, stack: Stack, workload_pool: tuple[str, uuid.UUID], tmp_path: Path
    ) -> None:
        pool, deployment_id = workload_pool
        journal = tmp_path / "suspended"
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log"):
            flow_run_id = run(
                _submit(stack.prefect_api_url, deployment_id, journal=str(journal), steps=100)
            )
            wait_for(stack, flow_run_id, lambda fr: "step" in _read_text(journal))
            run(_suspend(stack.prefect_api_url, flow_run_id))
            suspended = wait_for(
                stack, flow_run_id, lambda fr: _steps(journal) > 0 and _idle(journal), timeout=30
            )
            after = run_to_end(stack, deployment_id, tmp_path / "after")
        assert suspended.state is not None
        assert (suspended.state.type, suspended.state.name) == (StateType.PAUSED, "Suspended")
        assert 0 < _steps(journal) < 100, "it stopped between its tasks"
        assert "done" not in _read_text(journal)
        assert state_type(after) is StateType.COMPLETED


class TestCancelledAsItEnds:
    """The server answers a run's final state with `Cancelling` when a cancel has just
    landed; the worker's cancel event then arrives after the run has gone."""

    @pytest.mark.parametrize("isolation", ["warm", "fork"])
    def test_run_cancelled_as_it_ends_is_cancelled_and_runs_its_hooks(
        self,
        stack: Stack,
        workload_pool: tuple[str, uuid.UUID],
        tmp_path: Path,
        isolation: str,
    ) -> None:
        pool, deployment_id = workload_pool
        journal = tmp_path / "cancelled"
        with worker(stack, pool, drain_seconds=30, log=tmp_path / "worker.log") as serving:
            done = run_to_end(
                stack, deployment_id, journal, {"isolation": isolation}, cancel_at_end=True
            )
            after = run_to_end(stack, deployment_id, tmp_path / "after", {"isolation": isolation})
        assert state_type(done) is StateType.CANCELLED, serving.output()[-3000:]
        assert journal_lines(journal)[-2:] == ["done 1", "cancelled Cancelling"]
        assert state_type(after) is StateType.COMPLETED


async def _suspend(api_url: str, flow_run_id: uuid.UUID) -> None:
    async with PrefectClient(api_url) as client:
        result = await client.set_flow_run_state(flow_run_id, Suspended(timeout_seconds=600))
    assert result.state is not None, result
    assert result.state.name == "Suspended", result


def _read_text(journal: Path) -> str:
    return journal.read_text() if journal.exists() else ""


def _steps(journal: Path) -> int:
    return _read_text(journal).count("step ")


def _idle(journal: Path) -> bool:
    """No new step in the last second: the run has stopped taking steps."""
    before = _steps(journal)
    time.sleep(1.0)
    return _steps(journal) == before
