"""flowdesk's fixes to Prefect: time zones listed once; a job-variables schema checked
once; triggers that see events in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from prefect._internal.schemas import validators
from prefect.client.schemas.schedules import CronSchedule
from prefect.server.events.ordering import memory as ordering
from prefect.server.utilities.messaging import create_consumer
from prefect.settings import PREFECT_MESSAGING_BROKER, temporary_settings
from prefect.utilities.schema_tools import validation

from deployments.setup import base_job_template
from flowdesk.prefect_fixes import cache_time_zones, check_schemas_once
from flowdesk.prefect_messaging import LEADER_WAIT


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
