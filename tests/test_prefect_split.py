"""The Prefect server as its API and its services on Redis (FLOWDESK_PREFECT_REDIS_URL):
the settings `flowdesk up` gives Prefect, what it refuses, the triggers' ordering fix on
Redis, and the session stack's own split server carrying an event from its API through
Redis to its services, which persist it and fire an automation on it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
import pytest
import redis
from prefect.client.orchestration import PrefectClient
from prefect.events.actions import PauseWorkQueue
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.server.events.schemas.events import ReceivedEvent, Resource
from prefect.settings import Settings as PrefectSettings

from flowdesk.prefect_messaging import LEADER_WAIT
from flowdesk.prefect_ordering import serialize_evaluations
from flowdesk.settings import Settings
from flowdesk.stack import (
    CONSUMER_READ_BATCH,
    child_env,
    prefect_redis_env,
    split_server_problem,
)
from tests import services
from tests.factories import submit_screener, wait_for_run
from tests.stack import Stack, cmdline

PG_PREFECT = services.sqlalchemy_url("prefect", "asyncpg")


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(state_dir=tmp_path, **values)  # type: ignore[arg-type]


class TestPrefectSettings:
    def test_a_redis_url_points_prefect_s_broker_ordering_leases_and_docket_at_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in prefect_redis_env("redis://x"):
            monkeypatch.delenv(name, raising=False)
        url = "redis://127.0.0.1:6379/11"
        env = child_env(settings(tmp_path, prefect_redis_url=url), "http://p/api")

        assert env["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging"
        assert env["PREFECT_MESSAGING_CACHE"] == "prefect_redis.messaging"
        assert env["PREFECT_SERVER_EVENTS_CAUSAL_ORDERING"] == "flowdesk.prefect_ordering"
        assert env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == "prefect_redis.lease_storage"
        assert env["PREFECT_REDIS_MESSAGING_URL"] == url
        assert env["PREFECT_SERVER_DOCKET_URL"] == url

    def test_the_event_consumers_read_a_batch_at_a_time(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        env = child_env(settings(tmp_path, prefect_redis_url="redis://x/1"), "http://p/api")
        for name, value in env.items():
            if name.startswith("PREFECT_SERVER_SERVICES_"):
                monkeypatch.setenv(name, value)
        services = PrefectSettings().server.services  # as Prefect's services read them
        assert services.event_persister.read_batch_size == CONSUMER_READ_BATCH
        assert services.triggers.read_batch_size == CONSUMER_READ_BATCH
        assert services.task_run_recorder.read_batch_size == CONSUMER_READ_BATCH
        assert CONSUMER_READ_BATCH > 1

    def test_without_one_the_server_keeps_flowdesk_s_in_memory_broker(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("PREFECT_MESSAGING_BROKER", raising=False)
        env = child_env(settings(tmp_path), "http://p/api")
        assert env["PREFECT_MESSAGING_BROKER"] == "flowdesk.prefect_messaging"
        assert "PREFECT_REDIS_MESSAGING_URL" not in env

    def test_an_operator_s_own_docket_database_is_kept(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PREFECT_SERVER_DOCKET_URL", "redis://127.0.0.1:6379/12")
        env = child_env(settings(tmp_path, prefect_redis_url="redis://x/1"), "http://p/api")
        assert env["PREFECT_SERVER_DOCKET_URL"] == "redis://127.0.0.1:6379/12"


class TestSplitServerProblem:
    def test_sqlite_is_refused_naming_the_setting_to_change(self, tmp_path: Path) -> None:
        problem = split_server_problem(
            settings(tmp_path, prefect_redis_url=services.REDIS_TEST_URL), {}
        )
        assert problem is not None
        assert "PREFECT_API_DATABASE_CONNECTION_URL" in problem
        assert "Postgres" in problem

    def test_a_redis_that_does_not_answer_is_named(self, tmp_path: Path) -> None:
        url = f"redis://127.0.0.1:{services.free_port()}/3"
        problem = split_server_problem(
            settings(tmp_path, prefect_redis_url=url),
            {"PREFECT_API_DATABASE_CONNECTION_URL": PG_PREFECT},
        )
        assert problem is not None
        assert url in problem
        assert "does not answer" in problem

    def test_postgres_and_a_live_redis_are_fine(self, tmp_path: Path) -> None:
        services.require_redis()
        problem = split_server_problem(
            settings(tmp_path, prefect_redis_url=services.REDIS_TEST_URL),
            {"PREFECT_API_DATABASE_CONNECTION_URL": PG_PREFECT},
        )
        assert problem is None

    def test_an_external_prefect_is_not_split(self, tmp_path: Path) -> None:
        problem = split_server_problem(
            settings(tmp_path, prefect_redis_url="redis://x/1", prefect_api_url="http://p/api"),
            {},
        )
        assert problem is None


@pytest.fixture
def claimed_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis database of its own, as prefect-redis's connection for this test."""
    services.require_redis()
    url = services.claim_redis_database()
    monkeypatch.setenv("PREFECT_REDIS_MESSAGING_URL", url)
    try:
        yield url
    finally:
        services.release_redis_database(url)


def _follower(received: datetime) -> ReceivedEvent:
    return ReceivedEvent(
        occurred=received,
        received=received,
        event="prefect.flow-run.Running",
        resource=Resource({"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"}),
        follows=uuid.uuid4(),  # a leader that never arrives
        id=uuid.uuid4(),
    )


class TestRedisOrdering:
    def test_prefect_loads_prefect_redis_s_ordering_with_the_short_wait(self) -> None:
        from prefect_redis import ordering

        module = import_module("flowdesk.prefect_ordering")
        assert module.CausalOrdering is ordering.CausalOrdering
        assert ordering.PRECEDING_EVENT_LOOKBACK == LEADER_WAIT  # type: ignore[attr-defined]
        assert LEADER_WAIT <= timedelta(seconds=30)

    def test_a_follower_of_a_missing_leader_is_released_after_the_wait_not_before(
        self, claimed_redis: str
    ) -> None:
        module = import_module("flowdesk.prefect_ordering")

        async def lost() -> tuple[set[str], str, str]:
            ordering = module.CausalOrdering(scope=f"test-{uuid.uuid4().hex}")
            now = datetime.now(UTC)
            waited = _follower(now - LEADER_WAIT - timedelta(seconds=1))
            recent = _follower(now - timedelta(seconds=2))
            for event in (waited, recent):
                await ordering.record_follower(event)
            released = {str(e.id) for e in await ordering.get_lost_followers()}
            return released, str(waited.id), str(recent.id)

        released, waited, recent = asyncio.run(lost())
        assert waited in released
        assert recent not in released


def _event(name: str = "prefect.flow-run.Completed") -> SimpleNamespace:
    return SimpleNamespace(id=uuid.uuid4(), event=name)


def _triggers_module(evaluate: Any, lost: list[Any] | None = None) -> SimpleNamespace:
    """Stand-ins for the two functions of Prefect's triggers module that are wrapped."""

    async def get_lost_followers() -> list[Any]:
        return list(lost or [])

    module = SimpleNamespace(reactive_evaluation=evaluate, get_lost_followers=get_lost_followers)
    serialize_evaluations(module)
    return module


class TestSerializedEvaluations:
    def test_prefect_s_triggers_module_is_wrapped_once(self) -> None:
        from prefect.server.events import triggers

        import_module("flowdesk.prefect_ordering")
        wrapped = triggers.reactive_evaluation
        assert wrapped._flowdesk_serialized  # type: ignore[attr-defined]
        serialize_evaluations(triggers)
        assert triggers.reactive_evaluation is wrapped

    def test_two_events_take_turns_and_a_released_follower_does_not_wait(self) -> None:
        running: list[int] = []
        overlaps: list[int] = []

        async def evaluate(event: Any, depth: int = 0) -> None:
            running.append(1)
            overlaps.append(len(running))
            await asyncio.sleep(0.05)
            if depth == 0:  # releases a follower, as the causal ordering does
                await module.reactive_evaluation(_event(), depth + 1)
            running.pop()

        module = _triggers_module(evaluate)

        async def both() -> None:
            await asyncio.wait_for(
                asyncio.gather(
                    module.reactive_evaluation(_event()), module.reactive_evaluation(_event())
                ),
                timeout=5,
            )

        asyncio.run(both())
        assert len(overlaps) == 4
        # Each event overlaps only with the follower it released, never with the other.
        assert max(overlaps) == 2
        assert overlaps.count(1) == 2

    def test_a_lost_follower_that_fails_does_not_stop_the_others(self) -> None:
        failing, fine = _event("prefect.flow-run.Late"), _event("prefect.flow-run.Late")
        evaluated: list[Any] = []

        async def evaluate(event: Any, depth: int = 0) -> None:
            if event is failing:
                raise RuntimeError("Could not refresh instance")
            evaluated.append(event)

        module = _triggers_module(evaluate, lost=[failing, fine])

        async def periodic() -> None:  # what Prefect's periodic evaluation does with them
            for event in await module.get_lost_followers():
                await module.reactive_evaluation(event)

        asyncio.run(periodic())
        assert evaluated == [fine]

    def test_an_event_from_the_consumer_that_fails_still_raises(self) -> None:
        async def evaluate(event: Any, depth: int = 0) -> None:
            raise RuntimeError("database gone")

        module = _triggers_module(evaluate)
        with pytest.raises(RuntimeError, match="database gone"):
            asyncio.run(module.reactive_evaluation(_event()))


class TestSessionStackSplitServer:
    def test_its_prefect_server_is_an_api_without_services_and_a_services_process(
        self, stack: Stack
    ) -> None:
        commands = [cmdline(p) for p in stack.process_tree()]
        api = "flowdesk.prefect_cli server start"
        assert any(api in c and "--no-services" in c for c in commands)
        assert sum("flowdesk.prefect_services" in c for c in commands) == 1
        # Prefect's event stream lives in the stack's own Redis database (created by the
        # first event published or by the services' consumers, whichever comes first).
        assert stack.prefect_redis_url is not None
        client = redis.Redis.from_url(stack.prefect_redis_url)
        try:
            deadline = time.monotonic() + 15
            while client.type("events") != b"stream" and time.monotonic() < deadline:
                time.sleep(0.5)
            assert client.type("events") == b"stream"
        finally:
            client.close()

    def test_an_event_sent_to_the_api_is_persisted_and_fires_an_automation(
        self, stack: Stack
    ) -> None:
        asyncio.run(_event_fires_automation(stack.prefect_api_url))

    def test_a_completed_run_closes_its_zombie_bucket(
        self, stack: Stack, alice: httpx.Client
    ) -> None:
        """The zombie automation's bucket for a run, opened by its heartbeat, counts its
        Completed: the triggers saw the two in order (with Prefect's batching publisher,
        the heartbeat waited in its websocket's batch and came second, count 0: the
        automation would fire on the completed run 90 s later)."""
        run = wait_for_run(alice, submit_screener(alice))
        assert run["status"] == "completed", run
        flow_run_id = run["prefect"]["flow_run_id"]
        url = stack.env["PREFECT_API_DATABASE_CONNECTION_URL"].replace("+asyncpg", "")
        deadline = time.monotonic() + 20
        counts: list[int] = []
        while time.monotonic() < deadline and not (counts and counts[0] >= 1):
            time.sleep(0.5)
            with psycopg.connect(url) as conn:
                counts = [
                    row[0]
                    for row in conn.execute(
                        "SELECT count FROM automation_bucket WHERE bucketing_key::text = %s",
                        (f'["prefect.flow-run.{flow_run_id}"]',),
                    )
                ]
        assert counts, "no zombie bucket for the run: its heartbeat was not evaluated"
        assert counts[0] >= 1, f"zombie bucket counts {counts}: its Completed was missed"


async def _event_fires_automation(api_url: str) -> None:
    name = f"flowdesk.test.split-{uuid.uuid4().hex[:8]}"
    async with PrefectClient(api_url) as client:
        queue = await client.create_work_queue(name=name, work_pool_name="flowdesk")
        automation_id = await client.create_automation(
            AutomationCore(
                name=name,
                trigger=EventTrigger(
                    expect={name},
                    match={"prefect.resource.id": name},
                    posture=Posture.Reactive,
                    threshold=1,
                    within=timedelta(0),
                ),
                actions=[PauseWorkQueue(source="selected", work_queue_id=queue.id)],
            )
        )
        try:
            # The triggers service hears of a new automation through Postgres NOTIFY.
            time.sleep(1)
            event = {
                "id": str(uuid.uuid4()),
                "occurred": datetime.now(UTC).isoformat(),
                "event": name,
                "resource": {"prefect.resource.id": name},
            }
            async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
                sent = await http.post("/events", json=[event])
                assert sent.status_code == 204, sent.text
                deadline = time.monotonic() + 30
                paused = persisted = False
                while time.monotonic() < deadline and not (paused and persisted):
                    await asyncio.sleep(0.5)
                    paused = (await client.read_work_queue(queue.id)).is_paused
                    found = await http.post(
                        "/events/filter",
                        json={"filter": {"event": {"name": [name]}}, "limit": 5},
                    )
                    persisted = [e["id"] for e in found.json()["events"]] == [event["id"]]
            assert paused, "the automation did not pause the queue within 30 s"
            assert persisted, "the event was not persisted within 30 s"
        finally:
            await client.delete_automation(automation_id)
            await client.delete_work_queue_by_id(queue.id)
