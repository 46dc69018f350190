"""A request that Postgres rolls back in a deadlock answers 503 JSON with Retry-After (the
request can be sent again as it was), not a 500; nothing it wrote stays."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.errors import install
from tests.services import create_database, drop_database, dsn, require_postgres, sqlalchemy_url

# The other transaction starts waiting this long after the request does, so the request's
# deadlock check (Postgres's deadlock_timeout, 1 s) runs first and the request is the
# transaction Postgres rolls back.
OTHER_WAITS_AFTER_S = 0.3


@pytest.fixture
def database() -> Iterator[str]:
    require_postgres()
    name = create_database("flowdesk_conflict")
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE pair (id int PRIMARY KEY, v int NOT NULL)")
        conn.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    yield name
    drop_database(name)


def crossing_transaction(database: str, locked: threading.Event, go: threading.Event) -> None:
    """Takes row 2, then, once told, row 1: the request's two rows in the other order."""
    with psycopg.connect(dsn(database)) as conn:
        conn.execute("UPDATE pair SET v = v + 10 WHERE id = 2")
        locked.set()
        assert go.wait(10)
        time.sleep(OTHER_WAITS_AFTER_S)
        conn.execute("UPDATE pair SET v = v + 10 WHERE id = 1")
        conn.commit()


def test_a_deadlocked_request_is_503_with_retry_after_and_rolled_back(database: str) -> None:
    app = FastAPI()
    install(app)
    engine = create_async_engine(sqlalchemy_url(database))
    locked, go = threading.Event(), threading.Event()
    other = threading.Thread(target=crossing_transaction, args=(database, locked, go))

    @app.post("/swap")
    async def swap() -> dict[str, str]:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE pair SET v = v + 1 WHERE id = 1"))
            other.start()
            assert await asyncio.to_thread(locked.wait, 10)
            go.set()
            await conn.execute(text("UPDATE pair SET v = v + 1 WHERE id = 2"))
        return {"never": "reached"}

    with TestClient(app) as client:
        response = client.post("/swap")
    other.join(timeout=30)

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["error"] == "ServiceUnavailable"
    assert "rolled back; retry" in body["detail"]
    with psycopg.connect(dsn(database)) as conn:
        rows = conn.execute("SELECT id, v FROM pair ORDER BY id").fetchall()
    assert rows == [(1, 10), (2, 10)]  # only the other transaction's updates
