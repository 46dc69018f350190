"""Retries with capped exponential backoff and full jitter, and what counts as retryable.

The wait before retry ``n`` (0-based) is drawn uniformly from ``[0, min(max_delay,
base_delay * 2**n))`` — "full jitter" from the AWS Architecture Blog ("Exponential Backoff
And Jitter", 2015): of the schemes it compares, full jitter finishes a contended workload
with the fewest calls, because workers that failed together do not retry together.

A server's ``Retry-After`` (on 429 or 503) is a floor for the wait, still capped at
``max_delay`` so one misbehaving header cannot park a worker for an hour.

Retryable: transport errors (refused connection, timeout, reset), HTTP 5xx and 429, and
any `RetryableError`. Everything else — a 404, a parsing bug — is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

import httpx

from flowdesk.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]
OnRetry = Callable[[int, float, BaseException], None]


class RetryableError(Exception):
    """Raise (or subclass) this from an outbound call to have it retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a call gets and how long it waits between them."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: Literal["full", "none"] = "full"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the settings ask for (retry_attempts, retry_*_delay_seconds)."""
        return cls(
            attempts=settings.retry_attempts,
            base_delay=settings.retry_base_delay_seconds,
            max_delay=settings.retry_max_delay_seconds,
        )

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (0-based): capped exponential."""
        # min() before the power would overflow: 2**1100 is past a float's range.
        if retry >= 64:
            return self.max_delay
        return float(min(self.max_delay, self.base_delay * 2**retry))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The ``attempts - 1`` waits between attempts, jittered with `rng`."""
        draw = rng or random
        for retry in range(self.attempts - 1):
            ceiling = self.ceiling(retry)
            yield draw.uniform(0, ceiling) if self.jitter == "full" else ceiling


def is_retryable(exc: BaseException) -> bool:
    """True for transport errors, HTTP 5xx and 429, and `RetryableError`."""
    if isinstance(exc, RetryableError | httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status >= 500 or status == 429
    return False


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date)."""
    if not isinstance(exc, httpx.HTTPStatusError):
        return None
    value = exc.response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # an unparseable header is ignored, as RFC 9110 allows
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool] = is_retryable,
    wait_hint: Callable[[BaseException], float | None] = retry_after,
    sleep: Sleep = asyncio.sleep,
    on_retry: OnRetry | None = None,
    rng: random.Random | None = None,
) -> T:
    """Await `fn()` until it succeeds or attempts run out; re-raise the last error as is."""
    delays = policy.delays(rng)
    attempt = 1
    while True:
        try:
            return await fn()
        except Exception as exc:
            delay = next(delays, None)
            if delay is None or not retryable(exc):
                raise
            hint = wait_hint(exc)
            if hint is not None:
                delay = min(max(delay, hint), policy.max_delay)
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            else:
                logger.warning(
                    "attempt %d/%d failed (%s); retrying in %.2f s",
                    attempt,
                    policy.attempts,
                    describe(exc),
                    delay,
                    extra={"attempt": attempt, "delay": delay},
                )
        await sleep(delay)
        attempt += 1


def describe(exc: BaseException) -> str:
    """A short, log-safe account of a failure (URLs without credentials or query strings)."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        url = response.request.url.copy_with(query=None, userinfo=b"")
        return f"HTTP {response.status_code} {response.reason_phrase} from {url}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
