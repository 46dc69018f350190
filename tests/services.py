"""Reaching the machine's real services from tests: Postgres databases and free ports."""

from __future__ import annotations

import os
import socket
import uuid
from itertools import islice
from typing import Any

import psutil
import psycopg
import pytest

PG_HOST = os.environ.get("FLOWDESK_TEST_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("FLOWDESK_TEST_PG_USER", "postgres")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def dsn(database: str) -> str:
    """A libpq URL of one of the test Postgres's databases."""
    return f"postgresql://{PG_USER}@{PG_HOST}:5432/{database}"


def admin_dsn() -> str:
    return dsn("postgres")


def require_postgres() -> None:
    try:
        with psycopg.connect(admin_dsn(), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"Postgres is not reachable at {PG_HOST}:5432 ({exc}); start it with: {START_POSTGRES}",
            returncode=3,
        )


def create_database(prefix: str) -> str:
    """A fresh, uniquely named database; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(database: str, driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:5432/{database}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


REDIS_HOST = os.environ.get("FLOWDESK_TEST_REDIS_HOST", "127.0.0.1")
# A database of the machine's Redis that only the test stack uses.
REDIS_TEST_URL = f"redis://{REDIS_HOST}:6379/7"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


def require_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.exit(
            f"Redis is not reachable at {REDIS_HOST}:6379 ({exc}); start it with: {START_REDIS}",
            returncode=3,
        )
    finally:
        client.close()


# Redis databases a stack's Prefect server may claim for its broker (one per stack, as
# its streams and consumer groups are not named per server): the test session's stack
# and any benchmark's running beside it each take a free one.
PREFECT_REDIS_DATABASES = range(8, 16)
CLAIM_KEY = "flowdesk:prefect-server-claim"


def claim_redis_database() -> str:
    """The URL of a Redis database no live process has claimed, emptied and claimed for
    this one (a claim of a process that is gone is taken over)."""
    import redis

    for db in PREFECT_REDIS_DATABASES:
        url = f"redis://{REDIS_HOST}:6379/{db}"
        client = redis.Redis.from_url(url, decode_responses=True)
        try:
            holder = client.get(CLAIM_KEY)
            if holder is not None and psutil.pid_exists(int(holder)):
                continue
            if holder is None and not _empty_or_prefect_leftovers(client):
                continue  # someone else's data: not ours to empty
            client.flushdb()
            if client.set(CLAIM_KEY, os.getpid(), nx=True):
                return url
        finally:
            client.close()
    raise RuntimeError(f"no free Redis database among {list(PREFECT_REDIS_DATABASES)}")


# Keys a Prefect server's broker, ordering and Docket make (and its processes may re-make
# while they stop, after a release emptied the database).
PREFECT_KEY_PREFIXES = ("events", "actions", "message:", "triggers:", "prefect")


def _empty_or_prefect_leftovers(client: Any) -> bool:
    keys = list(islice(client.scan_iter(count=200), 1000))
    return len(keys) < 1000 and all(key.startswith(PREFECT_KEY_PREFIXES) for key in keys)


def release_redis_database(url: str) -> None:
    """Empty a claimed database, which also drops the claim."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def reset_breakers() -> None:
    """Forget every circuit breaker's state in the test stack's Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        keys = list(client.scan_iter("flowdesk:breaker*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
