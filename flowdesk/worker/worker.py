"""The `flowdesk` worker: Prefect's BaseWorker, running flow runs in warm executors (or,
per deployment, in a fresh fork or a fresh interpreter), and stopping gracefully.

Everything around the process is Prefect's: the worker polls its pool, proposes the
states, sets the run's infrastructure pid; one FlowRunExecutorContext, kept for the
worker's life instead of one per run (a client, a control-channel listener and a
cancellation websocket each), watches for cancellations and turns a non-zero exit into
Crashed.

What it does differently from Prefect's process worker, each measured (README, Speed):
- isolation `warm` (the default): runs go to warm executors (flowdesk.worker.executors),
  processes forked once from a forkserver that has imported Prefect and the flows;
- a run created or handed back in the pool is seen at once (its Scheduled event), not
  at the next poll; while more runs are due than slots, a slot that frees takes the next
  run at once (from the runs fetched in the last second);
- no `Submitting` state between Pending and Running (a state change and an event per
  run, for a start that takes milliseconds here);
- a run's deployment is read once per submission, not twice, and flows are remembered.

Stopping: the first SIGTERM or SIGINT stops polling, so no new run is taken, and lets
the running ones finish for up to `FLOWDESK_WORKER_DRAIN_SECONDS` (30 s). What still runs then
is handed back: Prefect's "reschedule" intent tells the engine to stop without
proposing a state, the run goes to AwaitingRetry (a Scheduled state that any worker of
the pool picks up again, with the same flow run id) and its process is stopped. A
second signal hands back at once. No run is lost and none runs twice at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import WorkerFlowRunResponse
from prefect.exceptions import Abort, InfrastructureNotFound, ObjectNotFound, Pause
from prefect.flows import load_flow_from_flow_run
from prefect.runner._control_channel import ControlSignalStatus
from prefect.runner._flow_run_executor import (
    FlowRunExecutionResult,
    FlowRunExecutorContext,
)
from prefect.runner._process_manager import ProcessHandle
from prefect.runner._starter_engine import EngineCommandStarter
from prefect.settings import PREFECT_WORKER_QUERY_SECONDS
from prefect.states import AwaitingRetry
from prefect.utilities.engine import propose_state
from prefect.workers.base import BaseWorker, BaseWorkerResult
from pydantic import TypeAdapter

from flowdesk.settings import get_settings
from flowdesk.worker.config import FlowdeskJobConfiguration, FlowdeskVariables
from flowdesk.worker.executors import ExecutorPool, ExecutorStarter
from flowdesk.worker.polling import DueRuns
from flowdesk.worker.reads import RecentReads
from flowdesk.worker.wakeups import wake_on_due_runs
from flowdesk.worker.warm import ForkStarter, RunSpec, WarmProcesses, WarmUpAborted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Executors kept when the worker has no limit (Prefect's default is none).
DEFAULT_EXECUTORS = 8
# The largest poll: the server's default page.
POLL_PAGE = 200
# The shortest time between two fetches of due runs.
FETCH_GAP_SECONDS = 0.2
_SCHEDULED = TypeAdapter(list[WorkerFlowRunResponse])
# After the drain period, how long a run being submitted may take to start its process.
SUBMISSION_WAIT_SECONDS = 10.0
# While a stopped worker's serving task winds down, how often a forkserver still
# importing is looked for again (one spawned just as the stop came).
ABORT_AGAIN_SECONDS = 0.2


class FlowdeskWorkerResult(BaseWorkerResult):
    """The exit of one flow run's process."""


class FlowdeskWorker(BaseWorker[FlowdeskJobConfiguration, FlowdeskVariables, FlowdeskWorkerResult]):
    type = "flowdesk"
    job_configuration = FlowdeskJobConfiguration
    job_configuration_variables = FlowdeskVariables
    _description = (
        "flowdesk's worker: flow runs execute in warm processes that have already imported "
        "Prefect and the flows, one run at a time each; `isolation: fork` gives a "
        "deployment a fresh fork per run, `isolation: process` a fresh interpreter. "
        "Drains its runs, or hands them back, when stopped."
    )
    _display_name = "flowdesk"
    _documentation_url = "https://github.com/flowdesk/flowdesk#workers"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.drain_seconds = settings.worker_drain_seconds
        self._warm = WarmProcesses()
        self._pool = ExecutorPool(
            self._warm,
            capacity=self._limit or DEFAULT_EXECUTORS,
            runs_per_executor=settings.worker_runs_per_executor,
        )
        self._running: dict[uuid.UUID, _Running] = {}
        self._stop_requested = asyncio.Event()
        self._hand_back_now = asyncio.Event()
        self._look_again = asyncio.Event()
        self._due = DueRuns()
        self._run_once = False

    # -- lifecycle -------------------------------------------------------------------

    async def setup(self) -> None:
        warm_up = await anyio.to_thread.run_sync(self._warm.warm_up)
        self._logger.info("warm process ready in %.2f s", warm_up)
        await anyio.to_thread.run_sync(self._pool.prestart, self._limit or DEFAULT_EXECUTORS)
        await super().setup()
        RecentReads(self.client).install()
        self._executors = await self._exit_stack.enter_async_context(FlowRunExecutorContext())

    async def teardown(self, *exc_info: Any) -> None:
        try:
            await super().teardown(*exc_info)
        finally:
            self._pool.close()

    async def start(
        self,
        run_once: bool = False,
        with_healthcheck: bool = False,
        printer: Any = print,
    ) -> None:
        """Run until told to stop; then drain, hand back what is left, and return."""
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.add_signal_handler(signum, self.request_stop)
        self._run_once = run_once
        waking = asyncio.ensure_future(self._wake_on_due_runs())
        try:
            # A plain asyncio task, cancelled once after the drain, as Ctrl-C would cancel
            # Prefect's own worker: its teardown (events, the client) then runs normally.
            serving = asyncio.ensure_future(
                BaseWorker.start(self, run_once, with_healthcheck, printer)
            )
            stopping = asyncio.ensure_future(self._stop_requested.wait())
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                stopping.cancel()
                serving.result()
                return
            await self.drain()
            await self._stop_serving(serving)
        finally:
            waking.cancel()
            for signum in SIGNALS:
                loop.remove_signal_handler(signum)
            # Stopped during setup, Prefect runs no teardown, and executors started
            # meanwhile would keep the worker from exiting (multiprocessing joins them).
            self._pool.close()

    async def _stop_serving(self, serving: asyncio.Future[None]) -> None:
        """Cancel Prefect's serving task; if the worker is still warming up, stop the
        warm process too rather than wait for its imports (flowdesk.worker.warm)."""
        self._warm.abort_warm_up()
        serving.cancel()
        while not serving.done():
            await asyncio.wait({serving}, timeout=ABORT_AGAIN_SECONDS)
            self._warm.abort_warm_up()  # a forkserver spawned just after the first try
        with contextlib.suppress(asyncio.CancelledError, WarmUpAborted):
            serving.result()

    def request_stop(self) -> None:
        """First call: stop taking runs and drain. Second call: hand back at once."""
        if self._stop_requested.is_set():
            self._hand_back_now.set()
        self._stop_requested.set()

    # -- polling ---------------------------------------------------------------------

    async def get_and_submit_flow_runs(self) -> list[FlowRun]:
        """Poll and submit, then wait for a reason to look again: a slot freeing while
        runs wait for one (flowdesk.worker.polling), a run of the pool becoming due
        (flowdesk.worker.wakeups), or the polling interval. One pass when run once."""
        while not self._stop_requested.is_set():  # stopping: take no new run
            self._look_again.clear()
            taken = await super().get_and_submit_flow_runs()
            self._due.taken(run.id for run in taken)
            if self._run_once:
                return taken
            with anyio.move_on_after(PREFECT_WORKER_QUERY_SECONDS.value()):
                await self._look_again.wait()
        return []

    async def _wake_on_due_runs(self) -> None:
        while self._work_pool is None:  # known once the worker has synced with Prefect
            await asyncio.sleep(0.5)
        await wake_on_due_runs(self._work_pool.id, self._on_due_run)

    def _on_due_run(self) -> None:
        self._due.expire()
        self._look_again.set()

    async def _get_scheduled_flow_runs(self) -> list[WorkerFlowRunResponse]:
        """The due runs fetched moments ago and not taken yet, or a new fetch of as many
        as the free slots plus one round of the worker's limit."""
        offered = self._due.offer()
        if offered is not None:
            return offered
        # Runs created one after another wake the worker one after another: one fetch
        # per FETCH_GAP_SECONDS at most serves them all (each fetch costs the server ~24 ms).
        await anyio.sleep(self._due.wait_before_fetch(FETCH_GAP_SECONDS))
        free = int(self._limiter.available_tokens) if self._limiter else 0
        limit = min(free + (self._limit or DEFAULT_EXECUTORS), POLL_PAGE)
        scheduled_before = datetime.now(UTC) + timedelta(seconds=int(self._prefetch_seconds))
        body: dict[str, Any] = {"scheduled_before": scheduled_before.isoformat(), "limit": limit}
        if self._work_queues:
            body["work_queue_names"] = list(self._work_queues)
        try:
            response = await self.client.request(
                "POST",
                "/work_pools/{name}/get_scheduled_flow_runs",
                path_params={"name": self._work_pool_name},
                json=body,
            )
        except ObjectNotFound:
            return []  # the pool is created again on the next heartbeat
        runs = _SCHEDULED.validate_python(response.json())
        self._due.fetched(runs, limit)
        return runs

    def _release_limit_slot(self, flow_run_id: uuid.UUID) -> None:
        super()._release_limit_slot(flow_run_id)
        if self._due.backlog:
            self._look_again.set()

    async def _propose_submitting_state(self, flow_run: FlowRun) -> None:
        """No `Submitting` state: a warm run starts within milliseconds of Pending, and the
        extra state change costs the server about 15 ms of CPU and an event per run."""

    async def drain(self) -> None:
        """Wait for the running flow runs, up to the drain period; hand back the rest."""
        self._logger.info(
            "stopping: %d flow run(s) running; waiting up to %g s for them",
            len(self._running),
            self.drain_seconds,
        )
        with anyio.move_on_after(self.drain_seconds):
            while self._busy() and not self._hand_back_now.is_set():
                await anyio.sleep(0.1)
        # A run still being submitted (Pending, its process not started yet) would be
        # stranded in Pending if cut off now: let its process start, then hand it back.
        with anyio.move_on_after(SUBMISSION_WAIT_SECONDS):
            while self._submitting():
                await anyio.sleep(0.05)
        for flow_run_id in list(self._running):
            await self.hand_back(flow_run_id)

    def _submitting(self) -> set[uuid.UUID]:
        """Flow runs the worker took (Pending) whose process has not started yet."""
        return set(self._submitting_flow_run_ids) - set(self._running)

    def _busy(self) -> bool:
        return bool(self._running or self._submitting())

    async def hand_back(self, flow_run_id: uuid.UUID) -> None:
        """Give a running flow run back to the pool: AwaitingRetry, its process stopped."""
        running = self._running.get(flow_run_id)
        if running is None:
            return
        executors = self._executors
        status = await executors.control_channel.signal(flow_run_id, "reschedule")
        if status is ControlSignalStatus.ALREADY_CONCLUDED:
            return  # it finished meanwhile
        try:
            state = await propose_state(
                executors.client,
                AwaitingRetry(message=f"handed back by worker {self.name!r}, which stopped"),
                flow_run_id=flow_run_id,
            )
        except (Abort, Pause):
            return
        if not state.is_scheduled():
            return  # Prefect refused: the run reached a final state meanwhile
        running.handed_back = True
        # Cancel first: the executor must not see the exit code and propose Crashed over
        # AwaitingRetry (it is blocked on the process until the kill below).
        running.scope.cancel()
        acknowledged = status is ControlSignalStatus.ACKNOWLEDGED
        await executors.process_manager.kill(flow_run_id, force=not acknowledged)
        await executors.process_manager.remove(flow_run_id)
        self.get_flow_run_logger(running.flow_run).info(
            "Handed back to the work pool (AwaitingRetry) because worker %r stopped", self.name
        )

    async def kill_infrastructure(
        self,
        infrastructure_pid: str,
        configuration: FlowdeskJobConfiguration,
        grace_seconds: int = 30,
    ) -> None:
        """Stop a flow run cancelled while it started (Prefect calls this). The run is
        found by its id, not its pid: a warm executor's pid is the next run's as well."""
        flow_run_id = configuration.env.get("PREFECT__FLOW_RUN_ID")
        running = self._running.get(uuid.UUID(flow_run_id)) if flow_run_id else None
        handle = self._executors.process_manager.get(running.flow_run.id) if running else None
        pid = infrastructure_pid.rsplit(":", 1)[-1]
        if running is None or handle is None or str(handle.pid) != pid:
            raise InfrastructureNotFound(f"no flow run process {pid} on worker {self.name!r}")
        await self._executors.process_manager.kill(running.flow_run.id, grace_seconds=grace_seconds)

    # -- running one flow run --------------------------------------------------------

    async def run(
        self,
        flow_run: FlowRun,
        configuration: FlowdeskJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> FlowdeskWorkerResult:
        executors = self._executors
        starter: Any
        if configuration.isolation == "process":
            starter = EngineCommandStarter(
                command=configuration.command,
                cwd=configuration.working_dir,
                env=configuration.env,
                stream_output=configuration.stream_output,
                control_channel=executors.control_channel,
            )
        else:
            spec = RunSpec(
                env=configuration.env,
                cwd=configuration.working_dir,
                control_channel=executors.control_channel,
                local_code=configuration.local_code,
            )
            if configuration.isolation == "fork":
                starter = ForkStarter(self._warm, spec)
            else:
                starter = ExecutorStarter(self._pool, spec, configuration.deployment)
        executor = executors.create_executor(
            flow_run, starter, resolve_flow=load_flow_from_flow_run, propose_submitting=False
        )
        execution: FlowRunExecutionResult | None = None
        started = _Started(task_status)

        async def execute() -> None:
            nonlocal execution
            execution = await executor.submit(task_status=started)

        with anyio.CancelScope() as scope:
            running = _Running(flow_run, scope)
            self._running[flow_run.id] = running
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(execute)
            finally:
                self._running.pop(flow_run.id, None)
        pid = started.handle.pid if started.handle else None
        if running.handed_back or execution is None:
            # Handed back, or never started (the executor has recorded why: cancelled
            # before it started, or Crashed because the process could not start).
            return FlowdeskWorkerResult(status_code=0, identifier=str(pid))
        return FlowdeskWorkerResult(
            status_code=execution.status_code or 0, identifier=str(execution.handle.pid)
        )


class _Started:
    """The task status the executor reports its process on: passes the pid on to the
    worker's (which records it as the flow run's infrastructure pid) and keeps the handle."""

    def __init__(self, outer: anyio.abc.TaskStatus[int] | None) -> None:
        self._outer = outer
        self.handle: ProcessHandle | None = None

    def started(self, value: ProcessHandle | None = None) -> None:
        self.handle = value
        if self._outer is not None and value is not None and value.pid is not None:
            self._outer.started(value.pid)


@dataclass
class _Running:
    """A flow run this worker executes: its cancel scope, and whether the worker handed
    it back to the pool."""

    flow_run: FlowRun
    scope: anyio.CancelScope
    handed_back: bool = False
