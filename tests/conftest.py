"""Session fixtures: one real flowdesk stack (Postgres, Prefect server, worker, API)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.desk_services import BackendApi, WebhookReceiver
from tests.session_stack import MissedTicks, SessionStack
from tests.stack import Stack, pause_queue

_SESSION_STACK: SessionStack | None = None
MISSED_TICKS_TEST = "test_worker_down_across_two_ticks_applies_each_policy"


def _needs_stack(item: pytest.Item) -> bool:
    return "stack" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what they will
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests without the stack first; boot the stack meanwhile if any test needs it."""
    global _SESSION_STACK
    needing = [item for item in items if _needs_stack(item)]
    if not needing or config.option.collectonly:
        return
    items[:] = [item for item in items if not _needs_stack(item)] + needing
    services.require_postgres()
    services.require_redis()
    tmp = config._tmp_path_factory.mktemp("stack")  # type: ignore[attr-defined]
    _SESSION_STACK = SessionStack(
        tmp, with_missed_ticks=any(item.name == MISSED_TICKS_TEST for item in needing)
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SESSION_STACK is not None:
        _SESSION_STACK.close()


def _session_stack() -> SessionStack:
    if _SESSION_STACK is None:  # a fixture asked for outside the collected tests' needs
        raise RuntimeError("no session stack: collection found no test that needs it")
    return _SESSION_STACK


@pytest.fixture(scope="session")
def stack() -> Stack:
    """`flowdesk up` on fresh Postgres databases, started once for the session."""
    return _session_stack().get()


@pytest.fixture(scope="session")
def backend_api(stack: Stack) -> BackendApi:
    """The seed's Backend API on loopback, serving the sample news; it fails when told."""
    return _session_stack().backend_api


@pytest.fixture(scope="session")
def alert_receiver(stack: Stack) -> WebhookReceiver:
    """Where the stack's webhook alert channel posts."""
    return _session_stack().alert_receiver


@pytest.fixture(scope="session")
def missed_ticks(stack: Stack) -> MissedTicks:
    """The schedules whose first two ticks passed while the worker was stopped."""
    scenario = _session_stack().missed_ticks
    assert scenario is not None, f"the scenario runs only when {MISSED_TICKS_TEST} is collected"
    return scenario


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
