"""An API process whose database connections are all busy answers 503 JSON, not a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from api.errors import install


def one_connection(tmp_path: Path) -> AsyncEngine:
    """The API's kind of pool (a queue pool), with one connection and a short timeout."""
    return create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = FastAPI()
    install(app)
    engine = one_connection(tmp_path)

    @app.get("/busy")
    async def busy() -> dict[str, int]:
        # The request holds the only connection and asks for another, as a request
        # does when every connection is taken by others.
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            async with engine.connect() as second:
                await second.execute(text("SELECT 1"))
        return {"never": 1}

    return app


def test_exhausted_pool_is_503_json_with_retry_after(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/busy")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["error"] == "ServiceUnavailable"
    assert "database busy" in body["detail"]


def test_pool_timeout_is_what_sqlalchemy_raises_there(tmp_path: Path) -> None:
    engine = one_connection(tmp_path)

    async def two_at_once() -> None:
        async with engine.connect(), engine.connect():
            pass

    with pytest.raises(PoolTimeout):
        asyncio.run(two_at_once())
