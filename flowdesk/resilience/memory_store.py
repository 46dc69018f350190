"""Breakers for one process: what a worker uses when no Redis is configured.

The same state machine as the Redis scripts (see `breaker.py`), in Python under one
lock. The lock is a `threading.Lock` never held across an await, so the store is safe
both for tasks on one event loop and for Prefect's worker threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from flowdesk.resilience.breaker import Admission, BreakerSnapshot, BreakerState, Transition


@dataclass
class _Entry:
    snapshot: BreakerSnapshot
    trial_until: float = 0.0


class MemoryBreakerStore:
    """Breakers for this process only: what a worker uses when no Redis is configured."""

    def __init__(self) -> None:
        # A threading lock, never held across an await: safe for threads and tasks alike.
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def _entry(self, dependency: str) -> _Entry:
        return self._entries.setdefault(dependency, _Entry(BreakerSnapshot(dependency)))

    async def admit(self, dependency: str, *, trial_ttl: float) -> Admission:
        """Closed: allowed; open past its cool-down with the slot free: the trial."""
        now = time.time()
        with self._lock:
            entry = self._entry(dependency)
            snap = entry.snapshot
            if snap.state is BreakerState.CLOSED:
                return Admission(True, False, snap)
            cooling = snap.state is BreakerState.OPEN and now < (snap.reopens_at or 0.0)
            if cooling or entry.trial_until > now:
                return Admission(False, False, snap)
            entry.snapshot = replace(snap, state=BreakerState.HALF_OPEN)
            entry.trial_until = now + trial_ttl
            return Admission(True, True, entry.snapshot)

    async def record_success(self, dependency: str, *, trial: bool) -> Transition:
        """Closed: reset the count; half-open and this was the trial: close."""
        with self._lock:
            entry = self._entry(dependency)
            before = entry.snapshot.state
            if before is BreakerState.CLOSED or (before is BreakerState.HALF_OPEN and trial):
                entry.snapshot = BreakerSnapshot(dependency)
                entry.trial_until = 0.0
            return Transition(before, entry.snapshot)

    async def record_failure(
        self, dependency: str, *, trial: bool, threshold: int, cooldown: float
    ) -> Transition:
        """Count the failure; open at the threshold, or re-open when the trial failed."""
        now = time.time()
        with self._lock:
            entry = self._entry(dependency)
            snap = entry.snapshot
            failures = snap.failures + 1
            reopen = snap.state is BreakerState.HALF_OPEN and trial
            if reopen or (snap.state is BreakerState.CLOSED and failures >= threshold):
                entry.snapshot = BreakerSnapshot(
                    dependency, BreakerState.OPEN, failures, now, now + cooldown
                )
                entry.trial_until = 0.0
            else:
                entry.snapshot = replace(snap, failures=failures)
            return Transition(snap.state, entry.snapshot)

    async def release_trial(self, dependency: str) -> None:
        """Free the trial slot without a verdict: the next call becomes the trial."""
        with self._lock:
            self._entry(dependency).trial_until = 0.0

    async def snapshot(self, dependency: str) -> BreakerSnapshot:
        """The dependency's breaker (closed with no failures if never seen)."""
        with self._lock:
            entry = self._entries.get(dependency)
            return entry.snapshot if entry else BreakerSnapshot(dependency)

    async def snapshots(self) -> dict[str, BreakerSnapshot]:
        """Every breaker this process has seen."""
        with self._lock:
            return {name: entry.snapshot for name, entry in self._entries.items()}

    async def aclose(self) -> None:
        """Nothing to release: the state lives as long as the process."""
