"""The circuit breaker, on the per-process store and on real Redis, behind a real server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from flowdesk.errors import CircuitOpen, DependencyUnavailable
from flowdesk.resilience import (
    BreakerState,
    CircuitBreaker,
    OutboundGuard,
    RetryPolicy,
    breaker_states,
    guard_for,
    store_for,
)
from flowdesk.settings import Settings
from tests.resilience.support import MisbehavingServer, Stores, fetch, http_client, make_guard

DEPENDENCY = "news-feed"
COOLDOWN = 0.3
ONE_ATTEMPT = RetryPolicy(attempts=1)


def guard(stores: Stores, policy: RetryPolicy = ONE_ATTEMPT) -> OutboundGuard:
    """One worker's guard: threshold 3, a 0.3 s cool-down, one attempt per call by default."""
    return make_guard(DEPENDENCY, stores.new(), policy=policy, threshold=3, cooldown=COOLDOWN)


async def call(guard: OutboundGuard, url: str) -> httpx.Response:
    async with http_client() as client:
        return await guard.call(lambda: fetch(client, url))


async def trip(guard: OutboundGuard, server: MisbehavingServer) -> None:
    """Fail one-attempt calls against a server that never recovers until the breaker opens."""
    server.misbehave(None)
    for _ in range(guard.breaker.failure_threshold):
        with pytest.raises(DependencyUnavailable):
            await call(guard, server.url)


class TestCircuitBreaker:
    def test_opens_after_consecutive_failures_then_fails_fast(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        worker = guard(stores)

        async def scenario() -> None:
            await trip(worker, server)
            assert server.requests == 3
            with pytest.raises(CircuitOpen) as refused:
                await call(worker, server.url)
            assert server.requests == 3  # failed fast: nothing reached the server
            detail = refused.value.detail
            assert f"circuit for {DEPENDENCY} opened after 3 consecutive failures" in detail
            assert "half-opens at" in detail
            snap = await worker.breaker.snapshot()
            assert (snap.state, snap.failures) == (BreakerState.OPEN, 3)
            assert snap.opened_at is not None
            assert snap.reopens_at == pytest.approx(snap.opened_at + COOLDOWN)

        stores.run(scenario)

    def test_a_success_resets_the_count(self, stores: Stores, server: MisbehavingServer) -> None:
        worker = guard(stores)

        async def fail_twice() -> None:
            server.misbehave(2)
            for _ in range(2):
                with pytest.raises(DependencyUnavailable) as caught:
                    await call(worker, server.url)
                assert not isinstance(caught.value, CircuitOpen)

        async def scenario() -> None:
            await fail_twice()
            await call(worker, server.url)
            await fail_twice()  # four failures, never three in a row: still closed
            snap = await worker.breaker.snapshot()
            assert (snap.state, snap.failures) == (BreakerState.CLOSED, 2)

        stores.run(scenario)

    def test_after_the_cooldown_a_successful_trial_closes_it(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        worker = guard(stores)

        async def scenario() -> None:
            await trip(worker, server)
            server.recover()
            await asyncio.sleep(COOLDOWN)
            assert (await call(worker, server.url)).status_code == 200
            assert server.requests == 4
            snap = await worker.breaker.snapshot()
            assert (snap.state, snap.failures, snap.opened_at) == (BreakerState.CLOSED, 0, None)

        stores.run(scenario)

    def test_a_failed_trial_reopens_for_another_cooldown(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        worker = guard(stores, RetryPolicy(attempts=3, base_delay=0.01))

        async def scenario() -> None:
            await trip(guard(stores), server)
            first = await worker.breaker.snapshot()
            await asyncio.sleep(COOLDOWN)
            # The trial is one attempt: it fails, so the call's other attempts fail fast.
            with pytest.raises(CircuitOpen) as refused:
                await call(worker, server.url)
            assert isinstance(refused.value.__cause__, httpx.HTTPStatusError)
            assert server.requests == 4
            again = await worker.breaker.snapshot()
            assert again.state is BreakerState.OPEN
            assert again.reopens_at is not None
            assert first.reopens_at is not None
            assert again.reopens_at >= first.reopens_at + COOLDOWN

        stores.run(scenario)

    def test_two_workers_see_the_same_open_breaker(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        first, second = guard(stores), guard(stores)

        async def scenario() -> None:
            await trip(first, server)
            with pytest.raises(CircuitOpen):
                await call(second, server.url)
            assert server.requests == 3

        stores.run(scenario)

    def test_concurrent_calls_after_the_cooldown_send_one_trial(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        workers = [guard(stores) for _ in range(6)]

        async def scenario() -> None:
            await trip(workers[0], server)
            server.recover(delay=0.2)  # the trial is still in flight when the others ask
            await asyncio.sleep(COOLDOWN)
            outcomes = await asyncio.gather(
                *(call(worker, server.url) for worker in workers), return_exceptions=True
            )
            kinds = sorted(type(outcome).__name__ for outcome in outcomes)
            assert kinds == ["CircuitOpen"] * 5 + ["Response"]
            refused = next(o for o in outcomes if isinstance(o, CircuitOpen))
            assert "one trial call is in flight" in refused.detail
            assert server.requests == 4
            assert (await workers[0].breaker.snapshot()).state is BreakerState.CLOSED

        stores.run(scenario)

    def test_threads_racing_for_the_trial_get_exactly_one(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        stores.run(lambda: trip(guard(stores), server))
        time.sleep(COOLDOWN)

        def admit() -> str:
            breaker = CircuitBreaker(DEPENDENCY, stores.new(), failure_threshold=3)
            try:
                admission = stores.run(breaker.admit)
            except CircuitOpen:
                return "refused"
            return "trial" if admission.trial else "allowed"

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = sorted(pool.map(lambda _: admit(), range(8)))
        assert answers == ["refused"] * 7 + ["trial"]

    def test_an_abandoned_trial_slot_expires(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        worker = guard(stores)

        async def scenario() -> None:
            await trip(worker, server)
            await asyncio.sleep(COOLDOWN)
            assert (await worker.breaker.admit()).trial  # ... and the worker dies mid-trial
            with pytest.raises(CircuitOpen):
                await worker.breaker.admit()
            await asyncio.sleep(worker.breaker.trial_ttl)
            assert (await worker.breaker.admit()).trial

        stores.run(scenario)

    def test_our_own_error_in_a_trial_hands_the_slot_back(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        worker = guard(stores)

        async def broken() -> httpx.Response:
            raise ValueError("our parsing bug")

        async def scenario() -> None:
            await trip(worker, server)
            await asyncio.sleep(COOLDOWN)
            with pytest.raises(ValueError, match="parsing bug"):
                await worker.call(broken)
            assert (await worker.breaker.snapshot()).state is BreakerState.HALF_OPEN
            server.recover()
            await call(worker, server.url)  # the next call is the trial, and closes it
            assert (await worker.breaker.snapshot()).state is BreakerState.CLOSED

        stores.run(scenario)

    def test_a_client_error_in_a_trial_closes_it(
        self, stores: Stores, server: MisbehavingServer
    ) -> None:
        worker = guard(stores)

        async def scenario() -> None:
            await trip(worker, server)
            server.misbehave(None, status=404)
            await asyncio.sleep(COOLDOWN)
            with pytest.raises(httpx.HTTPStatusError):
                await call(worker, server.url)  # it answered: the dependency is up
            assert (await worker.breaker.snapshot()).state is BreakerState.CLOSED

        stores.run(scenario)


class TestRedisState:
    def test_state_is_one_hash_per_dependency(
        self, redis_prefix: str, redis_dsn: str, server: MisbehavingServer
    ) -> None:
        stores = Stores("redis", redis_dsn, redis_prefix)
        stores.run(lambda: trip(guard(stores), server))
        client = redis.Redis.from_url(redis_dsn, decode_responses=True)
        fields = client.hgetall(f"{redis_prefix}:breaker:{DEPENDENCY}")
        assert fields.keys() == {"state", "failures", "opened_at", "reopens_at"}
        assert (fields["state"], fields["failures"]) == ("open", "3")
        assert float(fields["reopens_at"]) == pytest.approx(float(fields["opened_at"]) + COOLDOWN)
        assert client.exists(f"{redis_prefix}:breaker-trial:{DEPENDENCY}") == 0
        client.close()

    def test_a_breaker_opened_by_another_process_fails_fast_here(
        self, redis_prefix: str, redis_dsn: str, server: MisbehavingServer, project_root: Path
    ) -> None:
        server.misbehave(None)
        child = subprocess.run(
            [sys.executable, "-m", "tests.resilience.worker_process", redis_dsn, redis_prefix]
            + [DEPENDENCY, server.url],
            cwd=project_root,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outcome = json.loads(child.stdout)
        assert outcome["failed"] == 3
        assert "opened after 3 consecutive failures" in outcome["refused"]
        assert server.requests == 3
        stores = Stores("redis", redis_dsn, redis_prefix)
        with pytest.raises(CircuitOpen):
            stores.run(lambda: call(guard(stores), server.url))
        assert server.requests == 3

    def test_breaker_states_lists_every_dependency(
        self, redis_dsn: str, server: MisbehavingServer
    ) -> None:
        names = [f"feed-{uuid.uuid4().hex[:8]}" for _ in range(2)]
        settings = Settings(redis_url=redis_dsn, retry_attempts=1, breaker_failure_threshold=2)
        server.misbehave(None)

        async def scenario() -> None:
            for _ in range(2):
                with pytest.raises(DependencyUnavailable):
                    await call(guard_for(names[0], settings), server.url)
            server.recover()
            await call(guard_for(names[1], settings), server.url)
            states = await breaker_states(settings)
            assert (states[names[0]].state, states[names[0]].failures) == (BreakerState.OPEN, 2)
            assert states[names[0]].reopens_at is not None
            assert (states[names[1]].state, states[names[1]].failures) == (BreakerState.CLOSED, 0)
            await store_for(settings).aclose()

        try:
            asyncio.run(scenario())
        finally:
            client = redis.Redis.from_url(redis_dsn)
            client.delete(*(f"flowdesk:breaker:{name}" for name in names))
            client.close()
