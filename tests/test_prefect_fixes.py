"""flowdesk's fixes to Prefect: time zones listed once; a job-variables schema checked
once; deployments marked ready every few seconds, not on every poll; labels patched reading
only the labels; triggers that see events in order."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect._internal.schemas import validators
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
from prefect.client.schemas.objects import DeploymentStatus
from prefect.client.schemas.schedules import CronSchedule
from prefect.server.events.ordering import memory as ordering
from prefect.server.utilities.messaging import create_consumer
from prefect.settings import PREFECT_MESSAGING_BROKER, temporary_settings
from prefect.utilities.schema_tools import validation

from deployments.setup import base_job_template
from flowdesk.prefect_fixes import READY_MARKS_EVERY, cache_time_zones, check_schemas_once
from flowdesk.prefect_messaging import LEADER_WAIT
from tests.stack import Stack


class TestCacheTimeZones:
    def test_time_zones_are_listed_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        listed: list[int] = []

        def listing() -> tuple[str, ...]:
            listed.append(1)
            return ("UTC", "Europe/Zurich")

        monkeypatch.setattr(validators, "get_timezones", listing)
        cache_time_zones()
        for _ in range(3):
            CronSchedule(cron="0 9 * * *", timezone="Europe/Zurich")
        assert len(listed) == 1

    def test_an_unknown_time_zone_is_still_refused(self) -> None:
        cache_time_zones()
        with pytest.raises(ValueError, match="Invalid timezone"):
            CronSchedule(cron="0 9 * * *", timezone="Mars/Olympus")

    def test_applying_it_twice_keeps_one_cache(self) -> None:
        cache_time_zones()
        first = validators.get_timezones  # type: ignore[attr-defined]
        cache_time_zones()
        assert validators.get_timezones is first  # type: ignore[attr-defined]


class TestCheckSchemasOnce:
    @pytest.fixture
    def checks(self, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
        """The schemas Prefect's own metaschema check sees, once the fix wraps it."""
        seen: list[dict[str, Any]] = []
        check = validation._VALIDATOR.check_schema

        def counting(schema: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            seen.append(schema)
            check(schema, *args, **kwargs)

        monkeypatch.setattr(validation._VALIDATOR, "check_schema", staticmethod(counting))
        check_schemas_once()
        return seen

    def test_a_pool_schema_is_checked_once_for_many_runs(
        self, checks: list[dict[str, Any]]
    ) -> None:
        schema = base_job_template()["variables"]
        for _ in range(3):
            validation.is_valid_schema(schema, preprocess=False)
            validation.validate({"isolation": "fork"}, schema, raise_on_error=True)
        assert len(checks) == 2, "the raw schema once, and once as `validate` preprocesses it"

    def test_job_variables_are_still_validated_each_time(
        self, checks: list[dict[str, Any]]
    ) -> None:
        schema = base_job_template()["variables"]
        validation.validate({"isolation": "warm"}, schema, raise_on_error=True)
        with pytest.raises(validation.ValidationError, match="isolation"):
            validation.validate({"isolation": "thread"}, schema, raise_on_error=True)

    def test_an_invalid_schema_is_refused_every_time(self, checks: list[dict[str, Any]]) -> None:
        schema = {"type": "object", "properties": {"a": {"type": "nonsense"}}}
        for _ in range(2):
            with pytest.raises(ValueError, match="Invalid schema"):
                validation.is_valid_schema(schema, preprocess=False)
        assert len(checks) == 2


@flow(name="flowdesk-test-ready-marks")
def polled() -> None:
    """Never run: its deployments are what the polls below mark ready."""


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def _ready_marks(api_url: str) -> dict[str, Any]:
    async with PrefectClient(api_url) as client:
        pool = f"ready-marks-{uuid.uuid4().hex[:8]}"
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = await client.create_flow(polled)

        async def deployment(name: str) -> uuid.UUID:
            return await client.create_deployment(
                flow_id=flow_id, name=name, work_pool_name=pool, entrypoint="x.py:polled"
            )

        async def status(deployment_id: uuid.UUID) -> tuple[str, datetime | None]:
            read = await client.read_deployment(deployment_id)
            return (read.status.value if read.status else ""), read.last_polled

        async def ready(deployment_id: uuid.UUID) -> bool:
            return (await status(deployment_id))[0] == DeploymentStatus.READY.value

        async def poll() -> None:
            await client.get_scheduled_flow_runs_for_work_pool(pool)

        try:
            first = await deployment("first")
            before = await status(first)
            await poll()
            first_ready = await _eventually(lambda: ready(first))
            marked = (await status(first))[1]
            polled_at = []
            for _ in range(5):  # 2.5 s of polls, well inside READY_MARKS_EVERY
                await poll()
                await asyncio.sleep(0.5)
                polled_at.append((await status(first))[1])
            second = await deployment("second")
            await poll()
            second_ready = await _eventually(lambda: ready(second))
            return {
                "before": before,
                "first_ready": first_ready,
                "marked": marked,
                "polled_at": polled_at,
                "second_ready": second_ready,
                "last": (await status(first))[1],
            }
        finally:
            ours = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
            for deployment_read in await client.read_deployments(work_pool_filter=ours):
                await client.delete_deployment(deployment_read.id)
            await client.delete_work_pool(pool)


@pytest.fixture(scope="module")
def marks(stack: Stack) -> dict[str, Any]:
    """Polls of a pool of its own, that no worker polls, on the test stack's Prefect server."""
    return asyncio.run(_ready_marks(stack.prefect_api_url))


class TestMarkReadyLessOften:
    def test_a_new_deployment_is_ready_at_the_first_poll(self, marks: dict[str, Any]) -> None:
        assert marks["before"] == (DeploymentStatus.NOT_READY.value, None)
        assert marks["first_ready"]
        assert marks["marked"] is not None

    def test_polls_within_seconds_leave_last_polled_as_it_was(self, marks: dict[str, Any]) -> None:
        assert READY_MARKS_EVERY >= 5
        assert marks["polled_at"] == [marks["marked"]] * 5

    def test_a_deployment_added_meanwhile_is_ready_at_the_next_poll(
        self, marks: dict[str, Any]
    ) -> None:
        assert marks["second_ready"]
        assert marks["last"] > marks["marked"]  # the set was marked again, with it


def _patch_labels(api_url: str) -> dict[str, Any]:
    """A flow run with labels of its own gets more, as a worker gives it; and an unknown one."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        flow = client.post("/flows/", json={"name": "flowdesk-test-labels"}).json()
        labels = {"desk": "quant", "a": "1"}
        run = client.post("/flow_runs/", json={"flow_id": flow["id"], "labels": labels}).json()
        try:
            patched = client.patch(
                f"/flow_runs/{run['id']}/labels", json={"a": "2", "prefect.worker.type": "x"}
            )
            read = client.get(f"/flow_runs/{run['id']}").json()
            missing = client.patch(f"/flow_runs/{uuid.uuid4()}/labels", json={"a": "3"})
        finally:
            client.delete(f"/flow_runs/{run['id']}")
    return {"status": patched.status_code, "labels": read["labels"], "missing": missing}


class TestPatchLabelsLightly:
    """Against the test stack's Prefect server, which reads only the labels to merge them."""

    def test_labels_are_merged_into_the_run_s_own(self, stack: Stack) -> None:
        patched = _patch_labels(stack.prefect_api_url)
        assert patched["status"] == 204
        assert patched["labels"]["desk"] == "quant"
        assert patched["labels"]["a"] == "2"
        assert patched["labels"]["prefect.worker.type"] == "x"
        assert patched["labels"]["prefect.flow.id"]  # Prefect's own label, kept

    def test_an_unknown_run_is_404(self, stack: Stack) -> None:
        missing = _patch_labels(stack.prefect_api_url)["missing"]
        assert missing.status_code == 404
        assert "not found" in missing.json()["exception_message"]


class TestMessagingBroker:
    @pytest.fixture(autouse=True)
    def _broker(self) -> Iterator[None]:
        with temporary_settings({PREFECT_MESSAGING_BROKER: "flowdesk.prefect_messaging"}):
            yield

    def test_triggers_take_one_event_at_a_time(self) -> None:
        consumer = create_consumer("events", group="reactive-triggers", name="t")
        assert consumer.concurrency == 1  # type: ignore[attr-defined]

    def test_other_consumers_keep_prefects_concurrency(self) -> None:
        consumer = create_consumer("events", group="event-persister", name="p")
        assert consumer.concurrency == 2  # type: ignore[attr-defined]

    def test_a_missing_leader_is_waited_for_seconds_not_minutes(self) -> None:
        create_consumer("events", group="reactive-triggers", name="t")
        assert ordering.PRECEDING_EVENT_LOOKBACK == LEADER_WAIT  # type: ignore[attr-defined]
        assert LEADER_WAIT <= timedelta(seconds=30)
