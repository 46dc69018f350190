"""A circuit breaker per outbound dependency, its state kept in a store every worker shares.

::

    ┌────────┐   threshold consecutive failures   ┌──────┐
    │ closed │ ─────────────────────────────────▶ │ open │  calls fail fast (CircuitOpen)
    └────────┘                                    └──────┘
        ▲                    cool-down has passed:  │   ▲  trial fails:
        │ trial             next call is the trial  │   │  a new cool-down
        │ succeeds                                  ▼   │
        │                                       ┌───────────┐
        └────────────────────────────────────── │ half_open │  one trial in flight;
                                                └───────────┘  every other call fails fast

A success while closed resets the count: only consecutive failures open the breaker.

While open (and while the trial is in flight) `CircuitBreaker.admit` raises `CircuitOpen`
without calling anything. Half-open admits exactly one trial across all workers: the store
hands out a single trial slot that expires after `trial_ttl` (the cool-down by default), so
a worker killed mid-trial does not wedge the breaker half-open forever.

Only the trial's outcome settles a half-open breaker; a late result from a call admitted
before the breaker opened moves nothing but the failure count.

Stores: `MemoryBreakerStore` (`memory_store.py`: one process, safe for threads and tasks),
`RedisBreakerStore` (`redis_store.py`: shared by every worker) and `FallbackBreakerStore`
(`fallback.py`: Redis while it answers, the process's memory while it does not).
Times are Unix seconds so a snapshot means the same thing in every process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from flowdesk.errors import CircuitOpen
from flowdesk.settings import Settings

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSnapshot:
    """One dependency's breaker as the store holds it; `reopens_at` is when open half-opens."""

    dependency: str
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float | None = None
    reopens_at: float | None = None


@dataclass(frozen=True)
class Admission:
    """The store's answer to "may I call?"; `trial` marks the one half-open trial call."""

    allowed: bool
    trial: bool
    snapshot: BreakerSnapshot


@dataclass(frozen=True)
class Transition:
    """The state before an outcome was recorded, and the breaker after it."""

    before: BreakerState
    after: BreakerSnapshot


class BreakerStoreUnavailable(Exception):
    """The store (Redis) cannot be reached; the caller may fall back to another store."""


class BreakerStore(Protocol):
    """Where breakers live; every method is one atomic step of the state machine above."""

    async def admit(self, dependency: str, *, trial_ttl: float) -> Admission: ...

    async def record_success(self, dependency: str, *, trial: bool) -> Transition: ...

    async def record_failure(
        self, dependency: str, *, trial: bool, threshold: int, cooldown: float
    ) -> Transition: ...

    async def release_trial(self, dependency: str) -> None: ...

    async def snapshot(self, dependency: str) -> BreakerSnapshot: ...

    async def snapshots(self) -> dict[str, BreakerSnapshot]: ...

    async def aclose(self) -> None: ...


class CircuitBreaker:
    """One dependency's breaker: admits calls, records their outcomes, logs transitions."""

    def __init__(
        self,
        dependency: str,
        store: BreakerStore,
        *,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        trial_ttl: float | None = None,
    ) -> None:
        if failure_threshold < 1 or cooldown <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown > 0")
        self.dependency = dependency
        self.store = store
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.trial_ttl = trial_ttl if trial_ttl is not None else cooldown

    @classmethod
    def from_settings(
        cls, dependency: str, store: BreakerStore, settings: Settings
    ) -> CircuitBreaker:
        """A breaker with the settings' threshold and cool-down."""
        return cls(
            dependency,
            store,
            failure_threshold=settings.breaker_failure_threshold,
            cooldown=settings.breaker_cooldown_seconds,
        )

    async def admit(self) -> Admission:
        """Permission for one call; raises `CircuitOpen` while open or while a trial runs."""
        admission = await self.store.admit(self.dependency, trial_ttl=self.trial_ttl)
        snap = admission.snapshot
        if not admission.allowed:
            reopens_at = snap.reopens_at or time.time()
            raise CircuitOpen(
                self.dependency,
                failures=snap.failures,
                reopens_at=reopens_at,
                trial_in_flight=reopens_at <= time.time(),
            )
        if admission.trial:
            self._log(BreakerState.OPEN, snap, "cool-down over: admitting one trial call")
        return admission

    async def record_success(self, admission: Admission) -> None:
        """The call succeeded (or the dependency answered): closes a half-open breaker."""
        change = await self.store.record_success(self.dependency, trial=admission.trial)
        if change.before is not change.after.state:
            self._log(change.before, change.after, "trial call succeeded")

    async def record_failure(self, admission: Admission) -> None:
        """The dependency failed: counts toward opening, re-opens a half-open breaker."""
        change = await self.store.record_failure(
            self.dependency,
            trial=admission.trial,
            threshold=self.failure_threshold,
            cooldown=self.cooldown,
        )
        if change.before is not change.after.state:
            reason = f"{change.after.failures} consecutive failures"
            self._log(change.before, change.after, reason)

    async def release(self, admission: Admission) -> None:
        """No verdict on the dependency (our own error): hand the trial slot back."""
        if admission.trial:
            await self.store.release_trial(self.dependency)

    async def snapshot(self) -> BreakerSnapshot:
        """The breaker as the store holds it now."""
        return await self.store.snapshot(self.dependency)

    def _log(self, before: BreakerState, after: BreakerSnapshot, reason: str) -> None:
        level = logging.WARNING if after.state is BreakerState.OPEN else logging.INFO
        logger.log(
            level,
            "circuit for %s: %s -> %s (%s)",
            self.dependency,
            before.value,
            after.state.value,
            reason,
            extra={
                "dependency": self.dependency,
                "state": after.state.value,
                "previous_state": before.value,
                "failures": after.failures,
                "reopens_at": after.reopens_at,
            },
        )
