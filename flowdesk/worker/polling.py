"""The due flow runs a worker fetched, served again until taken or a second old.

Each poll costs the Prefect server about 24 ms of CPU here, even when nothing is due (the
query, and the bookkeeping tasks it schedules to mark the pool's queues and deployments
ready): in a burst, polling each time a slot frees was a poll per run. A fetch asks for
the free slots plus one more round of the worker's limit; the runs not taken yet are
offered again as slots free, for up to a second, and then fetched afresh (new runs, a
higher priority, runs other workers took meanwhile). A run another worker has already
taken is refused by Prefect when this one proposes Pending, as with any two workers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from prefect.client.schemas.responses import WorkerFlowRunResponse

# How long fetched runs are offered again before the pool is asked afresh.
MAX_AGE_SECONDS = 1.0


class DueRuns:
    """The runs of the last fetch that the worker has not taken."""

    def __init__(self, max_age_seconds: float = MAX_AGE_SECONDS) -> None:
        self._max_age = max_age_seconds
        self._runs: list[WorkerFlowRunResponse] = []
        self._fetched_at = self._last_fetch = float("-inf")
        self._full = False

    def offer(self) -> list[WorkerFlowRunResponse] | None:
        """The runs still to take, or None when it is time to fetch."""
        if not self._runs or time.monotonic() - self._fetched_at > self._max_age:
            return None
        return list(self._runs)

    def wait_before_fetch(self, gap_seconds: float) -> float:
        """Seconds to wait so that fetches are at least `gap_seconds` apart."""
        return max(0.0, self._last_fetch + gap_seconds - time.monotonic())

    def expire(self) -> None:
        """Fetch afresh next time (a run became due since the last fetch)."""
        self._fetched_at = float("-inf")

    def fetched(self, runs: list[WorkerFlowRunResponse], limit: int) -> None:
        self._runs = list(runs)
        self._fetched_at = self._last_fetch = time.monotonic()
        self._full = len(runs) >= limit

    def taken(self, flow_run_ids: Iterable[uuid.UUID]) -> None:
        ids = set(flow_run_ids)
        self._runs = [run for run in self._runs if run.flow_run.id not in ids]

    @property
    def backlog(self) -> bool:
        """Runs are still waiting for a slot: fetched and not taken, or more than the
        last fetch could hold."""
        return bool(self._runs) or self._full
