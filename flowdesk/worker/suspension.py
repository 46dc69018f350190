"""One suspension observer per warm executor instead of one per flow run.

Prefect's engine watches each flow run of a deployment for an outside request to
suspend it (`prefect.flow-run.Suspended` events): per run it starts a thread with an
event loop, a client and a websocket subscription, which the server answers with a
query of the last minute of events, reads the flow run once more, and on exit waits up
to 0.2 s for the thread. In an executor that runs flow run after flow run, one Prefect
`FlowRunSuspendingObserver` on a thread of its own watches whichever runs are going,
with the same events, confirmation and polling fallback: about 35 ms of CPU and a
websocket per run saved (a 100-run burst, `bench/`).

Only the subscription is shared. A suspension already requested when the run starts is
still seen: the engine reads the run's state when it sets up the run's context.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# How long the first run of an executor waits for the shared observer to subscribe.
READY_TIMEOUT_SECONDS = 10.0


class SharedSuspensionObserver:
    """A FlowRunSuspendingObserver on a thread of its own, watching the runs going."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Any = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._started = False

    @contextmanager
    def observe(
        self, flow_run_id: uuid.UUID, suspension_request: Any, polling_interval: float = 10
    ) -> Iterator[None]:
        """Prefect's `observe_flow_run_suspension` contract, on the shared observer."""
        self._start()
        self._call(lambda observer: observer.add_in_flight_flow_run_id(flow_run_id))
        try:
            yield
        finally:
            self._call(lambda observer: observer.remove_in_flight_flow_run_id(flow_run_id))

    def _call(self, method: Any) -> None:
        if self._loop is not None and self._observer is not None:
            self._loop.call_soon_threadsafe(method, self._observer)

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                context = contextvars.copy_context()  # the run's settings: the executor's
                thread = threading.Thread(
                    target=lambda: context.run(asyncio.run, self._serve()),
                    name="flowdesk-suspension-observer",
                    daemon=True,
                )
                thread.start()
                self._ready.wait(READY_TIMEOUT_SECONDS)

    async def _serve(self) -> None:
        from prefect._flow_run_suspension import mark_flow_run_suspension_requested
        from prefect._internal.observers import FlowRunSuspendingObserver

        def mark(flow_run_id: uuid.UUID, state: Any) -> None:
            mark_flow_run_suspension_requested(flow_run_id, state)

        try:
            async with FlowRunSuspendingObserver(on_suspended=mark) as observer:
                self._observer = observer
                self._loop = asyncio.get_running_loop()
                self._ready.set()
                await asyncio.Event().wait()  # until the executor exits (daemon thread)
        finally:
            self._ready.set()


def share_suspension_observer() -> None:
    """Make Prefect's engine use one observer for every flow run of this process."""
    import prefect.flow_engine

    shared = SharedSuspensionObserver()
    prefect.flow_engine.observe_flow_run_suspension = shared.observe  # type: ignore[attr-defined]
