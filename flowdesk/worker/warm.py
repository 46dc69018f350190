"""Flow runs forked from a warm process instead of started as fresh interpreters.

A fresh `python -m prefect.engine` spends most of a second importing Prefect and the
flows before it talks to the API. multiprocessing's forkserver imports them once, in a
process that has not yet started a thread, an event loop or a connection, and forks a
child per flow run from it. Each flow run still has a process of its own: it can be
cancelled or killed alone, and its crash (a non-zero exit, a signal) is recorded as
Crashed for that run only. Nothing a run changes in its memory reaches the next run.

The child does what `python -m prefect.engine` does: it takes the run's environment,
connects Prefect's control channel (cancel, reschedule) and runs the engine. It exits
through multiprocessing, which calls `threading._shutdown()`, where Prefect drains its
log and event workers, so no log line of the run is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from prefect.runner._process_manager import ProcessHandle

from flowdesk.worker.serve import run_engine, serve

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkServerProcess

    from prefect.client.schemas.objects import FlowRun
    from prefect.runner._control_channel import ControlChannel

# What the warm process imports once: the engine and every flow flowdesk deploys, with
# the libraries they import (pandas, SQLAlchemy, the desk's models), then the market data.
PRELOAD: tuple[str, ...] = (
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.deployments.steps",
    "flows.screener",
    "flows.report",
    "flows.analysis",
    "flows.maintenance",
    "flows.lifecycle",
    # Imported lazily by the first database connection or API call of each process: a
    # flow run forked before they are imported pays for them again (psycopg alone ~0.1 s).
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "aiosqlite",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "anyio._backends._asyncio",
    "anyio.streams.tls",
    "encodings.idna",
    "pandas.io.formats.csvs",
    "flowdesk.worker.preload",
    "flowdesk.worker.serve",
    "flowdesk.worker.freeze",  # last: freezes all of the above out of the collector
)


class WarmUpAborted(RuntimeError):
    """The worker was stopped while the forkserver was still importing."""


class WarmProcesses:
    """The forkserver every warm flow run is forked from, started once per worker."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))
        self._ready = False
        self._aborted = False

    def warm_up(self) -> float:
        """Start the forkserver now rather than on the first flow run; seconds it took."""
        started = time.monotonic()
        self._check_not_aborted()
        probe = self._context.Process(target=_probe, name="flowdesk-warm-up")
        try:
            probe.start()
            probe.join()
        except (EOFError, OSError) as exc:
            if self._aborted:
                raise WarmUpAborted("stopped while the warm process was importing") from exc
            raise
        self._ready = True
        return time.monotonic() - started

    def abort_warm_up(self) -> None:
        """Stop a forkserver still importing, for a worker stopped while warming up.

        Its imports take seconds (tens on a loaded machine), and the warm-up thread, the
        worker's exit and `flowdesk up`'s stop would all wait for them; nothing is lost,
        as no run has been taken yet. Once warm, the forkserver is left to end with the
        worker, as usual."""
        if self._ready:
            return
        self._aborted = True
        server = getattr(forkserver, "_forkserver", None)
        pid = getattr(server, "_forkserver_pid", None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _check_not_aborted(self) -> None:
        # A new process would start a new forkserver, and its imports, all over again.
        if self._aborted:
            raise WarmUpAborted("the worker is stopping; no process is started")

    def fork(
        self, flow_run_id: uuid.UUID, env: Mapping[str, str], cwd: Path | None
    ) -> ForkServerProcess:
        self._check_not_aborted()
        process = self._context.Process(
            target=run_flow_run,
            args=(str(flow_run_id), dict(env), str(cwd) if cwd else None),
            name=f"flow-run-{flow_run_id}",
        )
        process.start()
        return process

    def start_executor(self, name: str) -> tuple[ForkServerProcess, Connection]:
        """A warm executor (flowdesk.worker.serve) and the worker's end of its pipe."""
        self._check_not_aborted()
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=serve, args=(theirs,), name=name)
        process.start()
        theirs.close()
        return process, ours


@dataclass
class PreparedRun:
    """A flow run's environment and working directory, with its control-channel session
    registered (to be unregistered if the run never starts)."""

    flow_run_id: uuid.UUID
    env: dict[str, str]
    cwd: Path | None
    control_channel: ControlChannel | None

    def abandon(self) -> None:
        """The run did not start: drop its control-channel session."""
        if self.control_channel is not None:
            self.control_channel.unregister(self.flow_run_id)


@dataclass(frozen=True)
class RunSpec:
    """What the worker resolved for a deployment's flow run: its environment and working
    directory, the control channel to register it with, and its code when local."""

    env: Mapping[str, str | None]
    cwd: Path | None
    control_channel: ControlChannel | None
    local_code: tuple[Path, str] | None = None

    def prepare(self, flow_run: FlowRun) -> PreparedRun:
        """What `python -m prefect.engine` would be started with for this flow run."""
        run_env = {key: value for key, value in self.env.items() if value is not None}
        run_env["PREFECT__FLOW_RUN_ID"] = str(flow_run.id)
        run_env["PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS"] = "false"
        cwd = self.cwd
        if self.local_code is not None:
            # What the deployment's one pull step would do, done here: the run starts in
            # the code's directory and the engine loads the entrypoint from it.
            cwd, run_env["PREFECT__FLOW_ENTRYPOINT"] = self.local_code
        registered: ControlChannel | None = None
        if self.control_channel is not None:
            try:
                port, token = self.control_channel.register(flow_run.id)
            except RuntimeError:
                pass  # no loopback listener: cancellation falls back to killing
            else:
                run_env["PREFECT__CONTROL_PORT"] = str(port)
                run_env["PREFECT__CONTROL_TOKEN"] = token
                registered = self.control_channel
        return PreparedRun(flow_run.id, run_env, cwd, registered)


class ForkStarter:
    """`isolation: fork`: a fresh fork of the forkserver per flow run. Prefect's
    process-starter contract (see prefect.runner._flow_run_executor): hand the process
    over with `task_status.started`, then block until it exits."""

    def __init__(self, processes: WarmProcesses, spec: RunSpec) -> None:
        self._processes = processes
        self._spec = spec

    async def start(
        self,
        flow_run: FlowRun,
        task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        run = self._spec.prepare(flow_run)
        try:
            process = await anyio.to_thread.run_sync(
                self._processes.fork, run.flow_run_id, run.env, run.cwd
            )
        except BaseException:
            run.abandon()
            raise
        task_status.started(ProcessHandle(process))  # type: ignore[arg-type]
        await anyio.to_thread.run_sync(process.join)


def _probe() -> None:
    """Nothing: forking it starts the forkserver and its imports."""


def run_flow_run(flow_run_id: str, env: dict[str, str], cwd: str | None) -> None:
    """In the forked child: run one flow run as `python -m prefect.engine` would."""
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    from prefect._internal.control_listener import configure_from_env
    from prefect.engine import _drive_run_flow_result
    from prefect.flow_engine import load_flow
    from prefect.settings import Settings

    configure_from_env()
    # Settings are read again from the run's environment, as a fresh process would.
    run_engine(
        uuid.UUID(flow_run_id),
        Settings(),
        load=load_flow,
        drive=_drive_run_flow_result,
        run_to_end=asyncio.run,
    )
