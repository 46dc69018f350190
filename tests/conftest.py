"""Session fixtures: one real flowdesk stack (Postgres, Prefect server, worker, API)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.stack import Stack, drop_databases, pause_queue, start_stack, stop_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`flowdesk up` on fresh Postgres databases, started once for the session."""
    services.require_postgres()
    started = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield started
    finally:
        stop_stack(started)
        drop_databases(started)


def _client(stack: Stack, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=stack.api_url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def alice(stack: Stack) -> Iterator[httpx.Client]:
    with _client(stack, stack.create_user("alice")) as client:
        yield client


@pytest.fixture(scope="session")
def bob(stack: Stack) -> Iterator[httpx.Client]:
    with _client(stack, stack.create_user("bob")) as client:
        yield client


@pytest.fixture(scope="session")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with _client(stack, stack.create_user("root-admin", admin=True)) as client:
        yield client


@pytest.fixture
def anonymous(stack: Stack) -> Iterator[httpx.Client]:
    with _client(stack, None) as client:
        yield client


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def paused_default_queue(stack: Stack) -> Iterator[None]:
    """The worker takes nothing from the default queue until the test ends."""
    asyncio.run(pause_queue(stack, paused=True))
    try:
        yield
    finally:
        asyncio.run(pause_queue(stack, paused=False))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty snapshot database: a SQLite file, then a new Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    services.require_postgres()
    name = services.create_database("flowdesk_fresh")
    try:
        yield services.sqlalchemy_url(name)
    finally:
        services.drop_database(name)
