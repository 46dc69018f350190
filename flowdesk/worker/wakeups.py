"""Wake the worker when a flow run of its pool becomes due, rather than at its next poll.

A worker polls its pool every `PREFECT_WORKER_QUERY_SECONDS` (1 s under `flowdesk up`), so
an ad-hoc run waited half a second on average before a worker saw it. Prefect emits an
event when a flow run enters a Scheduled state (created through the API, retried, or
handed back by a stopping worker); the worker subscribes to those of its pool's runs
and looks at once. Runs that Prefect's scheduler inserts in advance emit no event and
are found by the regular poll, ahead of their time (the worker prefetches 10 s). The
subscription is best-effort: while it is down, polling alone goes on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter

logger = logging.getLogger(__name__)

# The states a flow run enters when it becomes runnable by a worker.
DUE_EVENTS = ("prefect.flow-run.Scheduled", "prefect.flow-run.AwaitingRetry")
RECONNECT_SECONDS = 5.0


def due_runs_filter(work_pool_id: uuid.UUID) -> EventFilter:
    """Events of flow runs of this pool that became due. (The pool is a related resource
    of those events: the server's event stream matches related resources only through
    `any_resource`, not `related`.)"""
    return EventFilter(
        event=EventNameFilter(name=list(DUE_EVENTS)),
        any_resource=EventAnyResourceFilter(id=[f"prefect.work-pool.{work_pool_id}"]),
    )


async def wake_on_due_runs(work_pool_id: uuid.UUID, wake: Callable[[], None]) -> None:
    """Until cancelled: call `wake` for each flow run of the pool that becomes due."""
    while True:
        try:
            async with get_events_subscriber(filter=due_runs_filter(work_pool_id)) as events:
                async for _ in events:
                    wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # polling goes on; the subscription is only a shortcut
            logger.debug("due-run events unavailable (%s); polling only for now", exc)
        await asyncio.sleep(RECONNECT_SECONDS)
