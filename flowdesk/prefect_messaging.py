"""Prefect's in-memory message broker, with automations' triggers that see each flow run's
events in order and in time (`PREFECT_MESSAGING_BROKER=flowdesk.prefect_messaging`, set
by `flowdesk up` for the Prefect server it starts, which imports this module).

Both changes keep the zombie automation (a flow run's heartbeat, then nothing for 90 s:
Crashed) from firing on runs that completed. Without them, in a burst of 1,000
scheduled runs, it fired on 750 completed runs 90 s after their heartbeat ("Run is
already in terminal state COMPLETED": a failed action and three events each):

- A flow run the Prefect scheduler inserts gets its Scheduled state without an event,
  but the state events that follow within 5 minutes (Late, Pending) name that state's
  event as the one they follow. The triggers service holds such an event, and every
  later event of the run (Running, Completed), until the leader arrives or 15 minutes
  pass; the run's heartbeat, which follows nothing, goes through at once and opens the
  90 s bucket that the held Completed never closes. On this one-process broker, events
  arrive in milliseconds: a leader not seen within `LEADER_WAIT` is not coming.
- Prefect's in-memory consumers handle two events at once, so a run's heartbeat and
  its Completed can be evaluated in parallel and the Completed can miss the bucket the
  heartbeat is creating: the triggers consumer takes one event at a time.

Every other consumer, and the publisher, are Prefect's own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.server.events.ordering import memory as ordering
from prefect.server.utilities.messaging import memory
from prefect.server.utilities.messaging.memory import (
    Publisher,
    Subscription,
    break_topic,
    ephemeral_subscription,
)

__all__ = ["Consumer", "Publisher", "break_topic", "ephemeral_subscription"]

# The consumer group of Prefect's reactive-triggers service.
TRIGGERS_GROUP = "reactive-triggers"
# How long the triggers service holds an event whose leader it has not seen (Prefect:
# 15 minutes); it looks for such events every 5 s.
LEADER_WAIT = timedelta(seconds=20)


class Consumer(memory.Consumer):
    def __init__(
        self,
        topic: str,
        subscription: Subscription | None = None,
        concurrency: int = 2,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("group") == TRIGGERS_GROUP:
            concurrency = 1
        super().__init__(topic, subscription, concurrency=concurrency, **kwargs)


def wait_less_for_leaders() -> None:
    """Let the triggers service give up on a missing leader after `LEADER_WAIT`."""
    ordering.PRECEDING_EVENT_LOOKBACK = LEADER_WAIT  # type: ignore[attr-defined]


# The Prefect server imports this module as its broker before its services start.
wait_less_for_leaders()
