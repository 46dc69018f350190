"""Which events wake the worker: its pool's flow runs becoming due (as the Prefect server
matches its subscription's filter)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prefect.server.events.filters import EventFilter as ServerEventFilter
from prefect.server.events.schemas.events import ReceivedEvent

from flowdesk.worker.wakeups import due_runs_filter


def event(name: str, pool: uuid.UUID) -> ReceivedEvent:
    return ReceivedEvent(
        occurred=datetime.now(UTC),
        event=name,
        resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
        related=[
            {
                "prefect.resource.id": f"prefect.work-pool.{pool}",
                "prefect.resource.role": "work-pool",
            }
        ],
        id=uuid.uuid4(),
    )


def server_side(pool: uuid.UUID) -> ServerEventFilter:
    """The filter as the server holds it for the subscription (which, like Prefect's
    subscriber, opens the time window into the future)."""
    due = ServerEventFilter.model_validate(due_runs_filter(pool).model_dump(mode="json"))
    due.occurred.until = datetime.now(UTC) + timedelta(days=365)
    return due


class TestDueRunsFilter:
    def test_scheduled_and_retried_runs_of_the_pool_wake_it(self) -> None:
        pool = uuid.uuid4()
        due = server_side(pool)
        assert due.includes(event("prefect.flow-run.Scheduled", pool))
        assert due.includes(event("prefect.flow-run.AwaitingRetry", pool))

    def test_other_states_and_other_pools_do_not(self) -> None:
        pool = uuid.uuid4()
        due = server_side(pool)
        assert not due.includes(event("prefect.flow-run.Running", pool))
        assert not due.includes(event("prefect.flow-run.Scheduled", uuid.uuid4()))
