"""`isolation: warm`: flow runs executed by warm executors, processes forked once from the
worker's forkserver that run one flow run at a time and then take the next.

A run in a fresh fork pays for everything a new process does on its first flow run:
Prefect's settings, API clients and lazily built models, SQLAlchemy's mappers and
statement cache, database connections (about 0.3 CPU-s per run on this machine, against
0.1 in an executor that has run before; `bench/`). An executor runs one flow run at a
time, so a run that kills its process (a segfault, `os._exit`) takes no other run with
it: Prefect records that run as Crashed from the exit status, as for any process, and
the next run gets a new executor. What a run leaves in its process's memory can reach
the later runs of the same executor; a deployment that must not share a process sets
`isolation: fork` (a fresh fork per run) or `isolation: process` (a fresh interpreter).

An executor is reused only for runs with the same environment and working directory
(the per-run `PREFECT__*` variables aside), so the settings it read on its first run
stay right, and only after a run that ended normally; it is retired after
`FLOWDESK_WORKER_RUNS_PER_EXECUTOR` runs. To Prefect's ProcessManager a run in an
executor looks like a process of its own (`RunLease`): its pid is the executor's while
the run lasts, its exit status is the run's, and a kill reaches the executor only while
that run is still in it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from prefect.runner._process_manager import ProcessHandle

from flowdesk.worker.serve import Job, Outcome
from flowdesk.worker.warm import RunSpec, WarmProcesses

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkServerProcess

    from prefect.client.schemas.objects import FlowRun
    from prefect.client.schemas.responses import DeploymentResponse

# Variables the worker sets per flow run (its id, control channel, attribution): they do
# not make two runs' environments different for an executor.
PER_RUN_PREFIX = "PREFECT__"

Signature = Hashable


def signature(env: Mapping[str, str], cwd: Path | None) -> Signature:
    """What two flow runs must share to run in the same executor."""
    shared = tuple(sorted((k, v) for k, v in env.items() if not k.startswith(PER_RUN_PREFIX)))
    return (str(cwd) if cwd else None, shared)


class Executor:
    """One warm executor process and the worker's end of its pipe."""

    def __init__(self, process: ForkServerProcess, conn: Connection, key: Signature | None) -> None:
        self.process = process
        self.conn = conn
        self.key = key
        self.runs = 0

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def send(self, job: Job) -> None:
        self.runs += 1
        self.conn.send(job)

    async def outcome(self) -> Outcome:
        """The outcome of the job sent last, or the exit status if the process died."""
        while True:
            if self.conn.poll():
                try:
                    outcome: Outcome = self.conn.recv()
                except EOFError:
                    break
                return outcome
            if not self.process.is_alive():
                break
            await _readable(self.conn.fileno(), self.process.sentinel)
        await anyio.to_thread.run_sync(self.process.join)
        return Outcome(status=self.process.exitcode or 0, reusable=False)

    def retire(self) -> None:
        """Ask the executor to exit once idle (or find it gone)."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.conn.close()


async def _readable(*fds: int) -> None:
    """Until one of the file descriptors can be read (data, end of file)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    for fd in fds:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        for fd in fds:
            loop.remove_reader(fd)


class ExecutorPool:
    """The worker's executors: at most `capacity` processes, busy or idle."""

    def __init__(self, processes: WarmProcesses, capacity: int, runs_per_executor: int) -> None:
        self._processes = processes
        self._capacity = capacity
        self._runs_per_executor = runs_per_executor
        self._idle: list[Executor] = []  # least recently used first
        self._lock = threading.Lock()
        self._started = 0

    def prestart(self, count: int) -> None:
        """Start executors that warm up before any run needs them (then serve the first
        signature that asks): the first runs of a burst find them ready."""
        started = [self._start() for _ in range(min(count, self._capacity))]
        with self._lock:
            self._idle.extend(Executor(process, conn, None) for process, conn in started)

    async def acquire(self, key: Signature) -> Executor:
        """An idle executor for this signature, an unassigned one, or a new one."""
        with self._lock:
            for wanted in (key, None):
                for executor in reversed(self._idle):
                    if executor.key == wanted and executor.process.is_alive():
                        self._idle.remove(executor)
                        executor.key = key
                        return executor
            # Make room: the worker's limit bounds busy executors, this bounds the rest.
            while self._idle and len(self._idle) >= self._capacity:
                self._idle.pop(0).retire()
        process, conn = await anyio.to_thread.run_sync(self._start)
        return Executor(process, conn, key)

    def _start(self) -> tuple[ForkServerProcess, Connection]:
        with self._lock:
            self._started += 1
            name = f"flowdesk-executor-{self._started}"
        return self._processes.start_executor(name)

    def release(self, executor: Executor, outcome: Outcome) -> None:
        """Back to the idle list after a normal run; retired otherwise."""
        if (
            outcome.reusable
            and executor.runs < self._runs_per_executor
            and executor.process.is_alive()
        ):
            with self._lock:
                self._idle.append(executor)
        else:
            executor.retire()

    def close(self) -> None:
        """Retire every idle executor."""
        with self._lock:
            idle, self._idle = self._idle, []
        for executor in idle:
            executor.retire()


@dataclass
class RunLease:
    """A flow run in an executor, as Prefect's ProcessManager sees a process: the
    executor's pid while the run lasts, then the run's exit status."""

    process: ForkServerProcess
    returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.returncode is None and self.process.is_alive()


@dataclass
class LeaseTermination:
    """Prefect's process-termination scope for a run in an executor: signals reach the
    executor only while this run is still in it, never the run after it."""

    lease: RunLease
    wait_after_graceful_kill: bool = True

    def is_alive(self, pid: int) -> bool:
        return self.lease.running

    def graceful_kill(self, pid: int) -> None:
        self._signal(signal.SIGTERM)

    def hard_kill(self, pid: int) -> None:
        self._signal(signal.SIGKILL)

    def close(self) -> None:
        pass

    def _signal(self, signum: int) -> None:
        if self.lease.running and self.lease.pid is not None:
            os.kill(self.lease.pid, signum)


class ExecutorStarter:
    """Prefect's process-starter contract (see prefect.runner._flow_run_executor) for a
    run in a warm executor: hand its lease over with `task_status.started`, then block
    until the run is over."""

    def __init__(
        self, pool: ExecutorPool, spec: RunSpec, deployment: DeploymentResponse | None = None
    ) -> None:
        self._pool = pool
        self._spec = spec
        self._deployment = deployment

    async def start(
        self,
        flow_run: FlowRun,
        task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        run = self._spec.prepare(flow_run)
        try:
            executor = await self._pool.acquire(signature(run.env, run.cwd))
        except BaseException:
            run.abandon()
            raise
        lease = RunLease(executor.process)
        job = Job(
            str(run.flow_run_id), run.env, str(run.cwd) if run.cwd else None, self._deployment
        )
        try:
            executor.send(job)
            task_status.started(ProcessHandle(lease, LeaseTermination(lease)))  # type: ignore[arg-type]
            outcome = await executor.outcome()
        except BaseException:
            # Cancelled while the run goes on (handed back, the worker stopping): the
            # executor exits once the run is over, or when the run is killed.
            executor.retire()
            raise
        lease.returncode = outcome.status
        self._pool.release(executor, outcome)
