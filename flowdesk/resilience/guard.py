"""`OutboundGuard`: every outbound call goes through its dependency's breaker and retries.

    guard = guard_for("news-feed")
    response = await guard.call(lambda: fetch(client, url))  # the thunk raises for status

Each attempt is admitted by the breaker first: while it is open the call raises
`CircuitOpen` at once and nothing is sent. The attempt's outcome then goes to the breaker:

- a retryable failure (transport error, HTTP 5xx or 429, `RetryableError`) counts one
  consecutive failure and is retried after a jittered backoff;
- any other HTTP status error (a 404, a 401) is the caller's problem, not the
  dependency's: it is raised as is, never retried, and counts as the dependency answering;
- any other exception is our own bug: raised as is, and the breaker is left alone.

Failures count per attempt, not per exhausted call. With the defaults (3 attempts,
threshold 5) a dead dependency opens its breaker during the second call instead of the
fifth, so workers stop queueing 3-attempt backoff sequences against it about 2.5 times
sooner. A half-open trial is likewise one attempt: if it fails the breaker re-opens and
the call's remaining retries fail fast with `CircuitOpen`.

When the attempts run out the guard raises `DependencyUnavailable` from the last error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from flowdesk.errors import CircuitOpen, DependencyUnavailable
from flowdesk.resilience.breaker import BreakerSnapshot, BreakerStore, CircuitBreaker
from flowdesk.resilience.fallback import FallbackBreakerStore
from flowdesk.resilience.memory_store import MemoryBreakerStore
from flowdesk.resilience.redis_store import RedisBreakerStore
from flowdesk.resilience.retry import (
    RetryPolicy,
    Sleep,
    describe,
    is_retryable,
    retry_after,
    retry_call,
)
from flowdesk.settings import Settings, get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

# What callers hold: `guard.call` fits it; the thunk raises for status itself.
OutboundCall = Callable[[Callable[[], Awaitable[httpx.Response]]], Awaitable[httpx.Response]]


class OutboundGuard:
    """Retries with backoff inside one dependency's circuit breaker."""

    def __init__(
        self,
        dependency: str,
        policy: RetryPolicy,
        breaker: CircuitBreaker,
        *,
        retryable: Callable[[BaseException], bool] = is_retryable,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if breaker.dependency != dependency:
            raise ValueError(f"breaker is for {breaker.dependency!r}, not {dependency!r}")
        self.dependency = dependency
        self.policy = policy
        self.breaker = breaker
        self._retryable = retryable
        self._sleep = sleep

    async def call(self, thunk: Callable[[], Awaitable[T]]) -> T:
        """`await thunk()` under the breaker, retrying what is retryable; returns its result."""
        attempts = 0
        last_error: Exception | None = None

        async def attempt() -> T:
            nonlocal attempts, last_error
            try:
                admission = await self.breaker.admit()
            except CircuitOpen as refused:
                if last_error is None:
                    raise
                raise refused from last_error  # opened between our attempts
            attempts += 1
            try:
                result = await thunk()
            except Exception as exc:
                last_error = exc
                if self._retryable(exc):
                    await self.breaker.record_failure(admission)
                elif isinstance(exc, httpx.HTTPStatusError):
                    await self.breaker.record_success(admission)  # it answered
                else:
                    await self.breaker.release(admission)
                raise
            await self.breaker.record_success(admission)
            return result

        try:
            return await retry_call(
                attempt,
                self.policy,
                retryable=self._retryable,
                wait_hint=retry_after,
                sleep=self._sleep,
                on_retry=self._log_retry,
            )
        except CircuitOpen:
            raise
        except Exception as exc:
            if not self._retryable(exc):
                raise
            raise DependencyUnavailable(
                self.dependency, attempts=attempts, last_error=describe(exc)
            ) from exc

    def _log_retry(self, attempt: int, delay: float, exc: BaseException) -> None:
        logger.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.2f s",
            self.dependency,
            attempt,
            self.policy.attempts,
            describe(exc),
            delay,
            extra={"dependency": self.dependency, "attempt": attempt, "delay": delay},
        )


_memory_store = MemoryBreakerStore()
_redis_stores: dict[str, BreakerStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: Settings) -> BreakerStore:
    """This process's breaker store: Redis (memory while unreachable), or memory alone."""
    dsn = settings.redis_dsn
    if dsn is None:
        return _memory_store
    with _stores_lock:
        store = _redis_stores.get(dsn)
        if store is None:
            store = FallbackBreakerStore(RedisBreakerStore(dsn), _memory_store)
            _redis_stores[dsn] = store
        return store


def guard_for(dependency: str, settings: Settings | None = None) -> OutboundGuard:
    """The guard for `dependency`, configured by the settings' retry_* and breaker_* values."""
    settings = settings or get_settings()
    breaker = CircuitBreaker.from_settings(dependency, store_for(settings), settings)
    return OutboundGuard(dependency, RetryPolicy.from_settings(settings), breaker)


async def breaker_states(settings: Settings | None = None) -> dict[str, BreakerSnapshot]:
    """Every known breaker, by dependency: state, failures, opened_at, reopens_at."""
    return await store_for(settings or get_settings()).snapshots()
