"""Inside a warm executor: run the flow runs the worker sends, one at a time.

A warm executor is forked once from the worker's forkserver and then runs flow run after
flow run, so what a fresh process pays on its first run (Prefect's settings, clients and
lazily built models, SQLAlchemy's mappers and compiled statements, the database pool,
the related-object cache of Prefect's events) is paid once per executor, not per run:
about 100 ms of CPU per run instead of about 300 ms for a fresh fork (`bench/`).

Each run gets the environment and working directory the worker resolved for it, its
own control-channel session (cancel, reschedule) and Prefect's own engine entry points,
as `python -m prefect.engine` runs them. Async flows run on one event loop that lives as
long as the executor; whatever a run leaves scheduled on it is cancelled when the run
ends, as `asyncio.run` would.

An executor keeps serving only after a run that ended normally (completed or failed);
after a termination (cancel, hand-back), a crash or any exit it did not expect, it
exits, and the worker forks a fresh one for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import GeneratorType
from typing import Any, cast

from flowdesk.db.engine import keep_connections, loop_engine, release_connections, session_scope
from flowdesk.worker.settle import concluded, settle_cancelling
from flowdesk.worker.storage import keep_default_storage
from flowdesk.worker.suspension import share_suspension_observer

# How long a run's end waits for its last log lines to reach the API.
FLUSH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    """One flow run for an executor: its id, environment and working directory."""

    flow_run_id: str
    env: dict[str, str]
    cwd: str | None
    deployment: Any = None  # the DeploymentResponse the worker read, if any


@dataclass(frozen=True)
class Outcome:
    """What the executor reports when a run ends: the exit status the run would have
    given a process of its own, and whether the executor can take another run."""

    status: int
    reusable: bool


def serve(conn: Connection) -> None:
    """The executor's loop: run each job received on `conn` and answer its outcome."""
    # A cancel for a run that has just finished can land between runs: nothing to stop.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    keep_connections(loop)
    share_suspension_observer()
    keep_default_storage()
    _warm_up(loop)
    runner = _Runner(loop)
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:  # the worker has gone
                return
            if job is None:  # the worker retires this executor
                return
            outcome = runner.run(cast(Job, job))
            try:
                conn.send(outcome)
            except OSError:  # the worker gave up on this run (handed it back, stopped)
                return
            if not outcome.reusable:
                return
    finally:
        _cancel_leftovers(loop)
        loop.run_until_complete(release_connections())
        loop.close()


def _warm_up(loop: asyncio.AbstractEventLoop) -> None:
    """Pay now, before the first run arrives, part of what that run would pay: Prefect's
    API client and response models, and the database pool with its dialect set up."""
    try:
        loop.run_until_complete(_touch_services())
    except Exception as exc:  # the first run then pays it, or reports the problem
        logging.getLogger(__name__).debug("executor warm-up incomplete: %s", exc)


async def _touch_services() -> None:
    from prefect import get_client
    from sqlalchemy import text

    async with get_client() as client:
        await client.read_flow_runs(limit=1)
    async with session_scope(loop_engine()) as session:
        await session.execute(text("SELECT 1"))


class _Runner:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._settings: Any = None
        self._flows: dict[str, tuple[int, Any]] = {}  # entrypoint -> (file mtime, flow)

    def run(self, job: Job) -> Outcome:
        from prefect._internal import control_listener
        from prefect.exceptions import TerminationSignal

        os.environ.clear()
        os.environ.update(job.env)
        if job.cwd:
            os.chdir(job.cwd)
        # During the run, SIGTERM does what it does to a fresh `python -m prefect.engine`:
        # ends the process until Prefect's engine installs its own handler.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        control_listener.configure_from_env()
        if job.deployment is not None:
            _prime_deployment_caches(job.deployment)
        terminated = False
        try:
            try:
                self._run_engine(uuid.UUID(job.flow_run_id))
            except TerminationSignal:
                terminated = True
                raise
        except SystemExit as exc:  # how Prefect's engine entry point ends a run
            status = _exit_status(exc.code)
            return Outcome(status, reusable=status == 0 and not terminated)
        except BaseException:  # recorded by the engine (Crashed); this process is suspect
            logging.getLogger(__name__).exception("flow run %s ended abnormally", job.flow_run_id)
            return Outcome(1, reusable=False)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            control_listener.stop()
            _cancel_leftovers(self._loop)
            _flush_logs()
        return Outcome(0, reusable=True)

    def _run_engine(self, flow_run_id: uuid.UUID) -> None:
        """`python -m prefect.engine`'s main, with this executor's loop and settings."""
        from prefect.settings import Settings

        if self._settings is None:
            # Read from the first run's environment, as a fresh process would; the worker
            # sends an executor only runs whose environment gives the same settings.
            self._settings = Settings()
        run_engine(
            flow_run_id,
            self._settings,
            load=self._load_flow,
            drive=self._drive,
            run_to_end=self._run_to_end,
        )

    def _load_flow(self, flow_run: Any) -> Any:
        """The run's flow. One loaded from a local entrypoint is kept while its file is
        unchanged: loading runs the whole file again and builds the flow's parameter
        model (about 8 ms per run). Other deployments pull their code each run."""
        from prefect.flow_engine import load_flow

        entrypoint = os.environ.get("PREFECT__FLOW_ENTRYPOINT")
        if not entrypoint or ":" not in entrypoint:
            return load_flow(flow_run)
        try:
            mtime = os.stat(entrypoint.rsplit(":", 1)[0]).st_mtime_ns
        except OSError:
            return load_flow(flow_run)
        key = f"{os.getcwd()}:{entrypoint}"
        kept = self._flows.get(key)
        if kept is None or kept[0] != mtime:
            kept = self._flows[key] = (mtime, load_flow(flow_run))
        return kept[1]

    def _drive(self, flow: Any, result: object) -> None:
        """prefect.engine._drive_run_flow_result on this executor's loop instead of a new
        one per run: async flows return a coroutine (or async generator) to drive."""
        if flow.isasync and flow.isgenerator and inspect.isasyncgen(result):
            generator = result

            async def consume() -> None:
                async for _ in generator:
                    pass

            self._run_to_end(consume())
        elif flow.isasync and not flow.isgenerator and asyncio.iscoroutine(result):
            self._run_to_end(result)
        elif flow.isgenerator and isinstance(result, GeneratorType):
            for _ in result:
                pass

    def _run_to_end(self, run: Coroutine[Any, Any, Any]) -> None:
        """Run the flow run's coroutine on the loop, as `asyncio.run` would.

        Prefect's SIGTERM handler raises TerminationSignal wherever the main thread is;
        when that is the loop waiting for I/O, the signal leaves the loop and the run's
        task is left pending. `asyncio.run` then cancels the task before anything else,
        and the engine, seeing a cancellation with the runner's intent still recorded
        (cancel, or a hand-back), records what the intent says. So does this.
        """
        from prefect.exceptions import TerminationSignal

        task = self._loop.create_task(run)
        try:
            self._loop.run_until_complete(task)
        except TerminationSignal:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    self._loop.run_until_complete(task)
            raise


def run_engine(
    flow_run_id: uuid.UUID,
    settings: Any,
    *,
    load: Callable[[Any], Any],
    drive: Callable[[Any, object], None],
    run_to_end: Callable[[Coroutine[Any, Any, Any]], object],
) -> None:
    """`python -m prefect.engine`'s main for one flow run, under `settings`: `load` gives
    the run's flow, `drive` runs what `run_flow` returned (an async flow's coroutine), and
    `run_to_end` runs a coroutine to its end. A run whose engine ended in Cancelling is
    settled here (flowdesk.worker.settle)."""
    from prefect.context import SettingsContext, get_settings_context
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import load_flow_run, run_flow
    from prefect.logging.loggers import flow_run_logger

    current = get_settings_context()
    with SettingsContext(profile=current.profile, settings=settings):
        with handle_engine_signals(flow_run_id):
            flow_run = load_flow_run(flow_run_id=flow_run_id)
            run_logger = flow_run_logger(flow_run=flow_run)
            try:
                flow: Any = load(flow_run)
            except Exception:
                run_logger.error("Could not load the flow of this run", exc_info=True)
                raise
            result = run_flow(
                flow, flow_run=flow_run, error_logger=cast(logging.Logger, run_logger)
            )
            drive(flow, result)
            if not concluded():  # ended in Cancelling: see flowdesk.worker.settle
                run_to_end(settle_cancelling(flow, flow_run.id))


def _prime_deployment_caches(deployment: Any) -> None:
    """Give Prefect the deployment the worker has just read for this run, where it
    would otherwise read it twice more (about 15 ms of CPU, server and client, per run):
    for `prefect.runtime.deployment` (the flow records its deployment's name) and for
    the related resources of the run's events. Both are caches Prefect fills itself on
    a first read and keeps for the process's life."""
    from prefect.events import related
    from prefect.runtime import deployment as runtime_deployment
    from prefect.types._datetime import now

    runtime_deployment.CACHED_DEPLOYMENT[str(deployment.id)] = deployment
    entry = {"kind": "deployment", "object": deployment}
    related.RESOURCE_CACHE[f"deployment.{deployment.id}"] = (entry, now("UTC"))  # type: ignore[assignment]


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a run left scheduled on the loop, as `asyncio.run` does at its end."""
    if loop.is_closed():
        return
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def _flush_logs() -> None:
    """Send the run's last log lines now rather than within the next batch interval (2 s):
    a later run of this executor may be killed (a cancel it does not acknowledge, a run
    that kills its process), which must not lose this run's lines. The log worker starts
    again with the next run's first line."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=FLUSH_TIMEOUT_SECONDS)
