"""Backoff delays, what is retryable, Retry-After, and `retry_call` on its own."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from flowdesk.resilience import RetryableError, RetryPolicy, is_retryable, retry_call
from flowdesk.resilience.retry import describe, retry_after
from flowdesk.settings import Settings


def status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    """The error `raise_for_status()` raises for `status`."""
    request = httpx.Request("GET", "http://user:secret@feeds.example/news?token=abc")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


class TestDelays:
    def test_without_jitter_delays_double_from_the_base(self) -> None:
        policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=10, jitter="none")
        assert list(policy.delays()) == pytest.approx([0.1, 0.2, 0.4, 0.8])

    def test_delays_are_capped_at_max_delay(self) -> None:
        policy = RetryPolicy(attempts=8, base_delay=1, max_delay=5, jitter="none")
        assert list(policy.delays()) == [1, 2, 4, 5, 5, 5, 5]

    def test_far_retries_stay_capped_without_overflow(self) -> None:
        policy = RetryPolicy(attempts=2, base_delay=1, max_delay=7)
        assert policy.ceiling(5000) == 7

    def test_one_attempt_has_no_delays(self) -> None:
        assert list(RetryPolicy(attempts=1).delays()) == []

    def test_full_jitter_draws_between_zero_and_the_ceiling(self) -> None:
        policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=3)
        rng = random.Random(7)
        for _ in range(200):
            for retry, delay in enumerate(policy.delays(rng)):
                assert 0 <= delay <= policy.ceiling(retry)

    def test_full_jitter_spreads_retries_across_the_window(self) -> None:
        policy = RetryPolicy(attempts=2, base_delay=1, max_delay=1)
        rng = random.Random(11)
        draws = [next(policy.delays(rng)) for _ in range(1000)]
        # Uniform on [0, 1): the mean is 0.5, and both halves are well used.
        assert 0.45 < sum(draws) / len(draws) < 0.55
        assert min(draws) < 0.05
        assert max(draws) > 0.95

    def test_same_seed_same_delays(self) -> None:
        policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=30)
        first = list(policy.delays(random.Random(42)))
        assert list(policy.delays(random.Random(42))) == first
        assert list(policy.delays(random.Random(43))) != first

    def test_zero_attempts_is_refused(self) -> None:
        with pytest.raises(ValueError, match="attempts"):
            RetryPolicy(attempts=0)

    def test_policy_from_settings(self) -> None:
        settings = Settings(
            retry_attempts=4, retry_base_delay_seconds=0.2, retry_max_delay_seconds=9
        )
        assert RetryPolicy.from_settings(settings) == RetryPolicy(4, 0.2, 9)


class TestRetryable:
    @pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
    def test_server_errors_and_429_are_retried(self, status: int) -> None:
        assert is_retryable(status_error(status))

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
    def test_client_errors_are_not_retried(self, status: int) -> None:
        assert not is_retryable(status_error(status))

    def test_transport_errors_and_the_marker_are_retried(self) -> None:
        assert is_retryable(httpx.ConnectError("refused"))
        assert is_retryable(httpx.ReadTimeout("slow"))
        assert is_retryable(RetryableError("try later"))

    def test_our_own_bugs_are_not_retried(self) -> None:
        assert not is_retryable(ValueError("bad json"))

    def test_description_hides_credentials_and_query(self) -> None:
        text = describe(status_error(503))
        assert text == "HTTP 503 Service Unavailable from http://feeds.example/news"


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert retry_after(status_error(429, {"Retry-After": "3"})) == 3

    def test_http_date(self) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        wait = retry_after(status_error(503, {"Retry-After": when}))
        assert wait is not None
        assert 28 <= wait <= 30

    def test_missing_or_garbled_header_is_ignored(self) -> None:
        assert retry_after(status_error(429)) is None
        assert retry_after(status_error(429, {"Retry-After": "soon"})) is None
        assert retry_after(httpx.ConnectError("refused")) is None


class Flaky:
    """Fails with `error` the first `failures` times it is awaited, then returns "done"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


class TestRetryCall:
    def run(self, flaky: Flaky, policy: RetryPolicy) -> tuple[str, list[float]]:
        slept: list[float] = []

        async def sleep(delay: float) -> None:
            slept.append(delay)

        result = asyncio.run(retry_call(flaky, policy, sleep=sleep, rng=random.Random(1)))
        return result, slept

    def test_succeeds_once_the_failures_stop(self) -> None:
        flaky = Flaky(2, RetryableError("blip"))
        result, slept = self.run(flaky, RetryPolicy(attempts=3, base_delay=0.1))
        assert (result, flaky.calls, len(slept)) == ("done", 3, 2)
        assert slept == list(RetryPolicy(attempts=3, base_delay=0.1).delays(random.Random(1)))

    def test_reraises_the_last_error_when_attempts_run_out(self) -> None:
        flaky = Flaky(5, RetryableError("still down"))
        with pytest.raises(RetryableError, match="still down"):
            self.run(flaky, RetryPolicy(attempts=3, base_delay=0))
        assert flaky.calls == 3

    def test_non_retryable_error_is_raised_at_once(self) -> None:
        flaky = Flaky(1, ValueError("bad json"))
        with pytest.raises(ValueError, match="bad json"):
            self.run(flaky, RetryPolicy(attempts=3, base_delay=0))
        assert flaky.calls == 1

    def test_retry_after_is_a_floor_capped_at_max_delay(self) -> None:
        asked = Flaky(1, status_error(429, {"Retry-After": "2"}))
        _, slept = self.run(asked, RetryPolicy(attempts=2, base_delay=0.01, max_delay=30))
        assert slept == [2]
        greedy = Flaky(1, status_error(503, {"Retry-After": "3600"}))
        _, slept = self.run(greedy, RetryPolicy(attempts=2, base_delay=0.01, max_delay=5))
        assert slept == [5]

    def test_on_retry_hears_each_attempt_and_its_delay(self) -> None:
        heard: list[tuple[int, float, str]] = []
        flaky = Flaky(2, RetryableError("blip"))
        policy = RetryPolicy(attempts=3, base_delay=0.01, jitter="none")
        asyncio.run(
            retry_call(flaky, policy, on_retry=lambda n, d, e: heard.append((n, d, str(e))))
        )
        assert heard == [(1, 0.01, "blip"), (2, 0.02, "blip")]
