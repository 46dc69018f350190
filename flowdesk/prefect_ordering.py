"""Prefect's Redis causal ordering (prefect-redis), with flowdesk's fixes to the triggers
service that uses it (`PREFECT_SERVER_EVENTS_CAUSAL_ORDERING=flowdesk.prefect_ordering`,
set by `flowdesk up` for a Prefect server split into its API and its services).

All three keep the zombie automation (a flow run's heartbeat, then nothing for 90 s:
Crashed) from firing on runs that completed.

- A missing leader is waited for `LEADER_WAIT`, not 15 minutes: the Redis counterpart of
  `flowdesk.prefect_messaging`'s first fix. A flow run the Prefect scheduler inserts gets
  its Scheduled state without an event, yet the state events that follow name it as
  their leader; the triggers would hold them, and the run's Completed with them, while
  the run's heartbeat opens the automation's 90 s bucket at once.
- One evaluation at a time. The triggers evaluate each event as it arrives and, every
  5 s, the events whose leader never came (Prefect's periodic evaluation), in two tasks;
  on Redis both took long enough to meet on one run's bucket, and the periodic one
  failed ("Could not refresh instance '<AutomationBucket>'"). A lock now makes them take
  turns (the followers an evaluation releases run inside it, without the lock).
- A lost follower that fails is logged and the others still run. Prefect takes them off
  Redis's waiting list before evaluating them and stopped at the first error, so the rest
  of that round, and the Completed events behind them, were never evaluated: in a burst
  of 1,000 scheduled runs, 36 completed runs were "crashed" by the automation (a failed
  action each).

prefect-redis's consumer hands its handler one message at a time, so the in-memory
broker's other fix (a triggers consumer of concurrency 1) is not needed here.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from prefect.logging import get_logger
from prefect.server.events import triggers
from prefect_redis import ordering
from prefect_redis.ordering import CausalOrdering

from flowdesk.prefect_messaging import LEADER_WAIT

__all__ = ["CausalOrdering"]

logger = get_logger(__name__)

Evaluation = Callable[..., Awaitable[None]]


def wait_less_for_leaders() -> None:
    """Let the triggers service give up on a missing leader after `LEADER_WAIT`."""
    ordering.PRECEDING_EVENT_LOOKBACK = LEADER_WAIT


def serialize_evaluations(module: Any = triggers) -> None:
    """Evaluate one event (with the followers it releases) at a time, and let a lost
    follower's failure stop only that follower; idempotent."""
    if getattr(module.reactive_evaluation, "_flowdesk_serialized", False):
        return
    evaluate: Evaluation = module.reactive_evaluation
    fetch: Callable[[], Awaitable[list[Any]]] = module.get_lost_followers
    lock = asyncio.Lock()
    lost: set[UUID] = set()

    @functools.wraps(fetch)
    async def get_lost_followers() -> list[Any]:
        followers = await fetch()
        lost.update(event.id for event in followers)
        return followers

    @functools.wraps(evaluate)
    async def reactive_evaluation(event: Any, depth: int = 0) -> None:
        if depth > 0:  # a follower, released inside an evaluation that holds the lock
            await evaluate(event, depth)
            return
        was_lost = event.id in lost
        lost.discard(event.id)
        async with lock:
            try:
                await evaluate(event, depth)
            except Exception:
                if not was_lost:
                    raise  # the consumer's message is then retried, as before
                logger.exception(
                    "Evaluating lost follower %s (%s) failed; evaluating the others",
                    event.id,
                    event.event,
                )

    reactive_evaluation._flowdesk_serialized = True  # type: ignore[attr-defined]
    module.reactive_evaluation = reactive_evaluation
    module.get_lost_followers = get_lost_followers


# Prefect imports this module for its causal ordering when the triggers service starts,
# before it evaluates any event.
wait_less_for_leaders()
serialize_evaluations()
