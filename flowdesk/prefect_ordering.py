"""Prefect's Redis causal ordering (prefect-redis), with the wait for a missing leader
event cut to `LEADER_WAIT` (`PREFECT_SERVER_EVENTS_CAUSAL_ORDERING=flowdesk.prefect_ordering`,
set by `flowdesk up` for a Prefect server split into its API and its services).

The Redis counterpart of `flowdesk.prefect_messaging`'s first fix. A flow run the Prefect
scheduler inserts gets its Scheduled state without an event, yet the state events that
follow name it as their leader; the triggers service would hold them, and the run's
Completed with them, for 15 minutes, while the run's heartbeat opens the zombie
automation's 90 s bucket at once. Events cross Redis in milliseconds here too, so a leader
not seen within `LEADER_WAIT` is not coming.

The second fix is not needed on Redis: prefect-redis's consumer hands its handler one
message at a time, so the triggers service already evaluates a run's events in turn.
"""

from __future__ import annotations

from prefect_redis import ordering
from prefect_redis.ordering import CausalOrdering

from flowdesk.prefect_messaging import LEADER_WAIT

__all__ = ["CausalOrdering"]


def wait_less_for_leaders() -> None:
    """Let the triggers service give up on a missing leader after `LEADER_WAIT`."""
    ordering.PRECEDING_EVENT_LOOKBACK = LEADER_WAIT


# Prefect imports this module for its causal ordering when a service first needs it.
wait_less_for_leaders()
