"""`OutboundGuard` against a real loopback server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest
import redis

from flowdesk.errors import CircuitOpen, DependencyUnavailable
from flowdesk.resilience import (
    BreakerState,
    FallbackBreakerStore,
    MemoryBreakerStore,
    OutboundCall,
    RedisBreakerStore,
    RetryPolicy,
    breaker_states,
    guard_for,
)
from flowdesk.settings import Settings
from tests.resilience.support import MisbehavingServer, fetch, http_client, make_guard
from tests.services import free_port


def dependency() -> str:
    return f"feed-{uuid.uuid4().hex[:8]}"


async def get_through(call: OutboundCall, url: str) -> httpx.Response:
    async with http_client() as client:
        return await call(lambda: fetch(client, url))


def fast_settings(**overrides: Any) -> Settings:
    """Settings with millisecond backoff, a threshold of 3 and a 0.3 s cool-down."""
    values: dict[str, Any] = {
        "retry_attempts": 3,
        "retry_base_delay_seconds": 0.01,
        "retry_max_delay_seconds": 0.05,
        "breaker_failure_threshold": 3,
        "breaker_cooldown_seconds": 0.3,
    }
    return Settings(**(values | overrides))


class TestRetries:
    def test_recovers_within_its_attempts(self, server: MisbehavingServer) -> None:
        server.misbehave(2)
        guard = make_guard(dependency(), MemoryBreakerStore(), threshold=10)
        response = asyncio.run(get_through(guard.call, server.url))
        assert response.status_code == 200
        assert server.requests == 3

    def test_too_few_attempts_is_dependency_unavailable(self, server: MisbehavingServer) -> None:
        server.misbehave(2)
        name = dependency()
        guard = make_guard(name, MemoryBreakerStore(), policy=RetryPolicy(2, 0.01), threshold=10)
        with pytest.raises(DependencyUnavailable) as caught:
            asyncio.run(get_through(guard.call, server.url))
        error = caught.value
        assert (error.dependency, error.attempts, error.status_code) == (name, 2, 503)
        assert f"{name} is unavailable after 2 attempts" in error.detail
        assert "HTTP 500" in error.last_error
        assert isinstance(error.__cause__, httpx.HTTPStatusError)
        assert server.requests == 2

    def test_client_error_is_raised_as_is_and_not_counted(self, server: MisbehavingServer) -> None:
        server.misbehave(None, status=404)
        guard = make_guard(dependency(), MemoryBreakerStore(), threshold=1)
        for _ in range(3):
            with pytest.raises(httpx.HTTPStatusError):
                asyncio.run(get_through(guard.call, server.url))
        assert server.requests == 3  # one each: never retried, and the breaker stayed closed
        assert asyncio.run(guard.breaker.snapshot()).failures == 0

    def test_connection_refused_is_retried_then_unavailable(self) -> None:
        guard = make_guard(dependency(), MemoryBreakerStore(), threshold=10)
        with pytest.raises(DependencyUnavailable) as caught:
            asyncio.run(get_through(guard.call, f"http://127.0.0.1:{free_port()}/"))
        assert caught.value.attempts == 3
        assert isinstance(caught.value.__cause__, httpx.ConnectError)

    def test_429_waits_as_long_as_retry_after_asks(self, server: MisbehavingServer) -> None:
        server.misbehave(1, status=429, headers={"Retry-After": "1"})
        policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=5)
        guard = make_guard(dependency(), MemoryBreakerStore(), policy=policy)
        started = time.perf_counter()
        asyncio.run(get_through(guard.call, server.url))
        assert 1.0 <= time.perf_counter() - started < 2.0
        assert server.requests == 2

    def test_retry_after_is_capped_at_max_delay(self, server: MisbehavingServer) -> None:
        server.misbehave(1, status=503, headers={"Retry-After": "3600"})
        policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.1)
        guard = make_guard(dependency(), MemoryBreakerStore(), policy=policy)
        started = time.perf_counter()
        asyncio.run(get_through(guard.call, server.url))
        assert time.perf_counter() - started < 1.0

    def test_retries_are_logged_with_structured_fields(
        self, server: MisbehavingServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        server.misbehave(1)
        name = dependency()
        guard = make_guard(name, MemoryBreakerStore())
        with caplog.at_level(logging.WARNING, logger="flowdesk.resilience"):
            asyncio.run(get_through(guard.call, server.url))
        (record,) = [r for r in caplog.records if getattr(r, "dependency", None) == name]
        assert (record.__dict__["attempt"], record.__dict__["delay"] >= 0) == (1, True)


class TestGuardFromSettings:
    def test_without_redis_the_guard_uses_the_process_store(
        self, server: MisbehavingServer
    ) -> None:
        server.misbehave(None)
        name = dependency()
        settings = fast_settings(retry_attempts=1)
        for _ in range(3):
            with pytest.raises(DependencyUnavailable):
                asyncio.run(get_through(guard_for(name, settings).call, server.url))
        with pytest.raises(CircuitOpen):
            asyncio.run(get_through(guard_for(name, settings).call, server.url))
        assert server.requests == 3
        states = asyncio.run(breaker_states(settings))
        assert states[name].state is BreakerState.OPEN
        assert states[name].failures == 3

    def test_unreachable_redis_falls_back_with_one_warning(
        self, server: MisbehavingServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings = fast_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
        name = dependency()
        with caplog.at_level(logging.WARNING, logger="flowdesk.resilience"):
            for _ in range(3):
                response = asyncio.run(get_through(guard_for(name, settings).call, server.url))
                assert response.status_code == 200
        warnings = [r for r in caplog.records if "breaker store unreachable" in r.getMessage()]
        assert len(warnings) == 1
        # The breaker still works, per process: a dead server opens it.
        server.misbehave(None)
        with pytest.raises(DependencyUnavailable) as caught:  # its third attempt opens it
            asyncio.run(get_through(guard_for(name, settings).call, server.url))
        assert not isinstance(caught.value, CircuitOpen)
        with pytest.raises(CircuitOpen):
            asyncio.run(get_through(guard_for(name, settings).call, server.url))
        assert server.requests == 3 + 3


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
class TestRedisComesBack:
    def test_fallback_store_returns_to_redis(self, redis_prefix: str) -> None:
        port = free_port()
        dsn = f"redis://127.0.0.1:{port}/0"
        store = FallbackBreakerStore(
            RedisBreakerStore(dsn, prefix=redis_prefix), MemoryBreakerStore(), retry_interval=0.2
        )
        guard = make_guard("flaky-redis", store, threshold=1)

        async def fail_once() -> None:
            with pytest.raises(DependencyUnavailable):
                await guard.call(self.refused)
            await store.aclose()

        asyncio.run(fail_once())  # recorded in memory: Redis is down
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            deadline = time.monotonic() + 5
            while not self.answers(client) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # the fallback's retry interval
            asyncio.run(fail_once())  # recorded in Redis this time
            assert client.hget(f"{redis_prefix}:breaker:flaky-redis", "state") == b"open"
            client.close()
        finally:
            process.terminate()
            process.wait(timeout=5)

    @staticmethod
    async def refused() -> httpx.Response:
        raise httpx.ConnectError("refused on purpose")

    @staticmethod
    def answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
