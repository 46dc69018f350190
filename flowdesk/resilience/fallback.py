"""Keep the breaker from taking calls down with it when Redis is unreachable.

`FallbackBreakerStore` asks the primary store (Redis) first. When that raises
`BreakerStoreUnavailable` it logs one warning, answers from the process's
`MemoryBreakerStore`, and asks Redis again only every `retry_interval` seconds, so a dead
Redis costs one refused connection per interval rather than one per call. State recorded
meanwhile stays in that process; when Redis answers again the shared state takes over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from flowdesk.resilience.breaker import (
    Admission,
    BreakerSnapshot,
    BreakerStore,
    BreakerStoreUnavailable,
    Transition,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


class FallbackBreakerStore:
    """`primary` (Redis) when it answers; `fallback` (this process) while it does not."""

    def __init__(
        self, primary: BreakerStore, fallback: BreakerStore, *, retry_interval: float = 30.0
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.retry_interval = retry_interval
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()  # worker threads share this store: one warning, not N

    async def _use(self, step: Callable[[BreakerStore], Awaitable[T]]) -> T:
        if time.monotonic() < self._down_until:
            return await step(self.fallback)
        try:
            result = await step(self.primary)
        except BreakerStoreUnavailable as exc:
            with self._lock:
                self._down_until = time.monotonic() + self.retry_interval
                first, self._down = not self._down, True
            if first:
                logger.warning(
                    "breaker store unreachable (%s): breakers are per process until it is back;"
                    " retrying it every %.0f s",
                    exc,
                    self.retry_interval,
                    extra={"retry_interval": self.retry_interval},
                )
            return await step(self.fallback)
        with self._lock:
            recovered, self._down = self._down, False
        if recovered:
            logger.warning("breaker store reachable again: breakers are shared once more")
        return result

    async def admit(self, dependency: str, *, trial_ttl: float) -> Admission:
        """Admit through whichever store is up."""
        return await self._use(lambda s: s.admit(dependency, trial_ttl=trial_ttl))

    async def record_success(self, dependency: str, *, trial: bool) -> Transition:
        """Record through whichever store is up."""
        return await self._use(lambda s: s.record_success(dependency, trial=trial))

    async def record_failure(
        self, dependency: str, *, trial: bool, threshold: int, cooldown: float
    ) -> Transition:
        """Record through whichever store is up."""
        return await self._use(
            lambda s: s.record_failure(
                dependency, trial=trial, threshold=threshold, cooldown=cooldown
            )
        )

    async def release_trial(self, dependency: str) -> None:
        """Release through whichever store is up."""
        await self._use(lambda s: s.release_trial(dependency))

    async def snapshot(self, dependency: str) -> BreakerSnapshot:
        """Read from whichever store is up."""
        return await self._use(lambda s: s.snapshot(dependency))

    async def snapshots(self) -> dict[str, BreakerSnapshot]:
        """Read from whichever store is up."""
        return await self._use(lambda s: s.snapshots())

    async def aclose(self) -> None:
        """Close both stores' connections for the running loop."""
        await self.primary.aclose()
        await self.fallback.aclose()
