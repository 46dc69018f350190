"""Fixtures for the resilience tests: a misbehaving server, real Redis, both breaker stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests import services
from tests.resilience.support import MisbehavingServer, Stores

# The machine's Redis, database 0; each test keeps to a key prefix of its own.
REDIS_DSN = f"redis://{services.REDIS_HOST}:6379/0"


@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    started = MisbehavingServer()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="session")
def redis_dsn() -> str:
    services.require_redis()
    return REDIS_DSN


@pytest.fixture
def redis_prefix(redis_dsn: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"flowdesk-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_dsn)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> Stores:
    """Breaker stores: per process, then on real Redis under a prefix of the test's own."""
    if request.param == "memory":
        return Stores("memory", None, None)
    dsn = request.getfixturevalue("redis_dsn")
    return Stores("redis", dsn, request.getfixturevalue("redis_prefix"))
