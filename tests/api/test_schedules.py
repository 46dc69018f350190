"""Schedules over real HTTP, checked against Prefect's own view of each deployment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prefect._vendor.croniter.croniter import croniter
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Scheduled

from tests import prefect_scheduler
from tests.factories import wait_for_run
from tests.session_stack import MissedTicks
from tests.stack import ROOT, Stack

SEED_EXAMPLE = {
    "name": "Daily Tech Screener",
    "job_type": "screener",
    "target": "tech_majors",
    "task_params": {
        "filter_criteria": {
            "market_cap_min": 1000000000,
            "pe_ratio_max": 25,
            "return_on_equity_min": 0.15,
        },
        "top_n": 20,
    },
    "cron": "0 9 * * *",
    "enabled": True,
}


def schedule_body(**overrides: Any) -> dict[str, Any]:
    body = {**SEED_EXAMPLE, "name": f"s-{uuid.uuid4().hex[:8]}"}
    body.update(overrides)
    return body


def create(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/schedules", json=schedule_body(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def prefect_view(stack: Stack, deployment_id: str) -> dict[str, Any]:
    """The deployment's schedules and its future scheduled flow runs, as Prefect has them."""
    async with PrefectClient(stack.prefect_api_url) as client:
        deployment = await client.read_deployment(uuid.UUID(deployment_id))
        flow_runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )
    return {
        "schedules": deployment.schedules,
        "scheduled": sorted(
            (fr.expected_start_time, fr.id) for fr in flow_runs if fr.expected_start_time
        ),
        "name": deployment.name,
        "work_queue": deployment.work_queue_name,
    }


def settled_schedule(
    stack: Stack, deployment_id: str, cron: str, timeout: float = 15
) -> list[tuple[datetime, uuid.UUID]]:
    """The deployment's upcoming runs once all are ticks of `cron` (UTC); fails otherwise.

    An edit removes the old runs at once, but a pass of Prefect's scheduler that read the
    old cron just before may insert some after; flowdesk sweeps them within seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        scheduled: list[tuple[datetime, uuid.UUID]] = run(prefect_view(stack, deployment_id))[
            "scheduled"
        ]
        strays = [t for t, _ in scheduled if not croniter.match(cron, t)]
        if scheduled and not strays:
            return scheduled
        if time.monotonic() > deadline:
            raise AssertionError(f"upcoming runs not on {cron!r} after {timeout} s: {strays}")
        time.sleep(0.5)


def schedule_runs(client: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    response = client.get("/api/runs", params={"schedule_id": schedule_id, "limit": 200})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def wait_for_schedule_runs(
    client: httpx.Client, schedule_id: str, count: int, timeout: float = 120
) -> list[dict[str, Any]]:
    """Wait until the schedule has `count` finished runs."""
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = schedule_runs(client, schedule_id)
        finished = [r for r in runs if r["status"] not in ("pending", "running")]
        if len(finished) >= count:
            return runs
        time.sleep(0.3)
    raise AssertionError(f"schedule {schedule_id}: {len(runs)} runs after {timeout} s: {runs}")


class TestCreate:
    def test_seed_example_creates_its_own_deployment_with_a_slugged_schedule(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        created = create(alice, name="Daily Tech Screener")
        assert created["timezone"] == "UTC"
        assert created["catchup"] == "latest"
        assert created["stale_after"] == "1h"
        fire_times = [datetime.fromisoformat(t) for t in created["next_fire_times"]]
        assert len(fire_times) == 5
        assert all(t.astimezone(UTC).hour == 9 and t.minute == 0 for t in fire_times)
        assert fire_times == sorted(fire_times)
        seen = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        (prefect_schedule,) = seen["schedules"]
        assert prefect_schedule.slug  # `prefect deploy` keeps slugged schedules
        assert prefect_schedule.active
        assert prefect_schedule.schedule.cron == "0 9 * * *"
        assert prefect_schedule.parameters["schedule"]["schedule_id"] == created["id"]
        assert prefect_schedule.parameters["schedule"]["target"] == "tech_majors"
        assert seen["name"] == created["slug"]
        # Prefect's own upcoming runs (it keeps at least 3) are the ticks the API previews.
        upcoming = [t for t, _ in seen["scheduled"]][:5]
        assert len(upcoming) >= 3
        assert upcoming == fire_times[: len(upcoming)]

    def test_new_york_schedule_fires_at_nine_local(self, alice: httpx.Client) -> None:
        created = create(alice, timezone="America/New_York")
        for fire in created["next_fire_times"]:
            local = datetime.fromisoformat(fire).astimezone(ZoneInfo("America/New_York"))
            assert (local.hour, local.minute) == (9, 0)

    def test_calendar_previews_only_trading_days(self, alice: httpx.Client) -> None:
        created = create(alice, cron="0 15 * * *", calendar="XNYS")
        days = [datetime.fromisoformat(t).date() for t in created["next_fire_times"]]
        assert all(d.weekday() < 5 for d in days)
        assert datetime(2026, 11, 26).date() not in days  # Thanksgiving


class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"cron": "61 9 * * *"}, "cron"),
            ({"cron": "*/10 * * * * *"}, "cron"),
            ({"cron": "every day"}, "cron"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"calendar": "XMARS"}, "calendar"),
            ({"target": "no_such_set"}, "target"),
            ({"task_params": {"top_n": 0}}, "task_params.top_n"),
            ({"task_params": {"filter_criteria": {"pe_ratio_maxx": 3}}}, "task_params"),
            ({"stale_after": "soon"}, "stale_after"),
            ({"catchup": "sometimes"}, "catchup"),
            ({"job_type": "report", "target": "nope"}, "target"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(
        self, alice: httpx.Client, overrides: dict[str, Any], field: str
    ) -> None:
        response = alice.post("/api/schedules", json=schedule_body(**overrides))
        assert response.status_code == 422, response.text
        fields = [f["field"] for f in response.json()["fields"]]
        assert any(f.startswith(field) for f in fields), fields

    def test_duplicate_name_is_409(self, alice: httpx.Client) -> None:
        created = create(alice)
        response = alice.post("/api/schedules", json=schedule_body(name=created["name"]))
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "ScheduleExists"

    def test_quota_is_enforced(self, stack: Stack) -> None:
        quota = int(stack.env["FLOWDESK_SCHEDULE_QUOTA"])
        key = stack.create_user(f"quota-{uuid.uuid4().hex[:6]}")
        with httpx.Client(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            for _ in range(quota):
                create(client)
            response = client.post("/api/schedules", json=schedule_body())
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "ScheduleQuotaExceeded"


class TestOwnership:
    def test_another_users_schedule_is_404(self, alice: httpx.Client, bob: httpx.Client) -> None:
        created = create(alice)
        url = f"/api/schedules/{created['id']}"
        assert bob.get(url).status_code == 404
        assert bob.put(url, json=schedule_body()).status_code == 404
        assert bob.delete(url).status_code == 404
        assert alice.get(url).status_code == 200

    def test_listing_is_scoped_and_filtered(
        self, alice: httpx.Client, bob: httpx.Client, admin: httpx.Client
    ) -> None:
        mine = create(alice, job_type="report", target="system_status", task_params={})
        theirs = create(bob)
        alice_ids = {s["id"] for s in alice.get("/api/schedules?limit=200").json()["items"]}
        assert mine["id"] in alice_ids
        assert theirs["id"] not in alice_ids
        reports = alice.get("/api/schedules", params={"job_type": "report"}).json()["items"]
        assert {s["job_type"] for s in reports} == {"report"}
        everyone = admin.get("/api/schedules", params={"limit": 200}).json()
        assert {mine["id"], theirs["id"]} <= {s["id"] for s in everyone["items"]}
        page = alice.get("/api/schedules", params={"limit": 1}).json()
        assert len(page["items"]) == 1
        assert page["total"] >= 1


class TestEdit:
    def test_put_moves_prefect_schedule_and_its_future_runs(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        created = create(alice)
        before = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        response = alice.put(
            f"/api/schedules/{created['id']}",
            json=schedule_body(name=created["name"], cron="30 14 * * 1-5", priority="high"),
        )
        assert response.status_code == 200, response.text
        updated = response.json()
        after = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        assert after["schedules"][0].schedule.cron == "30 14 * * 1-5"
        assert after["work_queue"] == "high"
        old_ids = {i for _, i in before["scheduled"]}
        assert not old_ids & {i for _, i in after["scheduled"]}, "old future runs removed"
        assert after["scheduled"], "the new ticks are scheduled at once, not after its loop"
        scheduled = settled_schedule(stack, created["prefect"]["deployment_id"], "30 14 * * 1-5")
        new_times = [t for t, _ in scheduled]
        previewed = [datetime.fromisoformat(t) for t in updated["next_fire_times"]]
        assert new_times[:5] == previewed[: len(new_times[:5])]

    def test_runs_a_scheduler_pass_read_before_the_edit_are_swept(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        """Prefect's scheduler reads the old cron, the edit commits, then it inserts."""
        created = create(alice, cron="0 9 * * *")
        deployment_id = uuid.UUID(created["prefect"]["deployment_id"])
        database = stack.env["PREFECT_API_DATABASE_CONNECTION_URL"]
        stale = run(prefect_scheduler.generate_runs(database, deployment_id))
        response = alice.put(
            f"/api/schedules/{created['id']}",
            json=schedule_body(name=created["name"], cron="30 14 * * 1-5"),
        )
        assert response.status_code == 200, response.text
        inserted = set(run(prefect_scheduler.insert_runs(database, stale)))
        assert inserted, "the old cron's runs went in after the edit, as in the race"
        scheduled = settled_schedule(stack, str(deployment_id), "30 14 * * 1-5")
        assert not inserted & {i for _, i in scheduled}

    def test_pause_and_resume(self, alice: httpx.Client, stack: Stack) -> None:
        created = create(alice)
        url = f"/api/schedules/{created['id']}"
        paused = alice.put(url, json=schedule_body(name=created["name"], enabled=False)).json()
        assert paused["enabled"] is False
        assert paused["next_fire_times"] == []
        seen = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        assert seen["schedules"][0].active is False
        assert seen["scheduled"] == []
        alice.put(url, json=schedule_body(name=created["name"], enabled=True))
        seen = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        assert seen["schedules"][0].active is True
        assert seen["scheduled"]

    def test_editing_one_users_schedule_leaves_anothers_next_run_in_place(
        self, alice: httpx.Client, bob: httpx.Client, stack: Stack
    ) -> None:
        hers = create(alice)
        his = create(bob)
        before = run(prefect_view(stack, his["prefect"]["deployment_id"]))
        alice.put(f"/api/schedules/{hers['id']}", json=schedule_body(cron="15 10 * * *"))
        alice.put(f"/api/schedules/{hers['id']}", json=schedule_body(enabled=False))
        after = run(prefect_view(stack, his["prefect"]["deployment_id"]))
        assert after["scheduled"] == before["scheduled"]

    def test_delete_removes_deployment_and_future_runs(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        created = create(alice)
        response = alice.delete(f"/api/schedules/{created['id']}")
        assert response.status_code == 204
        assert alice.get(f"/api/schedules/{created['id']}").status_code == 404

        async def deployment_gone() -> bool:
            async with PrefectClient(stack.prefect_api_url) as client:
                try:
                    await client.read_deployment(uuid.UUID(created["prefect"]["deployment_id"]))
                except Exception:  # ObjectNotFound
                    return True
            return False

        assert run(deployment_gone())


class TestPrefectDeploy:
    def test_prefect_deploy_all_leaves_api_schedules_intact(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        created = create(alice)
        before = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        result = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
            cwd=ROOT,
            env={**os.environ, **stack.env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        after = run(prefect_view(stack, created["prefect"]["deployment_id"]))
        assert [s.id for s in after["schedules"]] == [s.id for s in before["schedules"]]
        assert after["scheduled"] == before["scheduled"]


async def _make_tick(stack: Stack, deployment_id: str, at: datetime) -> uuid.UUID:
    """A flow run for the schedule's tick at `at`, as Prefect's scheduler would make it."""
    async with PrefectClient(stack.prefect_api_url) as client:
        deployment = await client.read_deployment(uuid.UUID(deployment_id))
        flow_run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters=deployment.schedules[0].parameters,
            state=Scheduled(scheduled_time=at),
        )
    return flow_run.id


async def _wait_until_final(stack: Stack, flow_run_ids: list[uuid.UUID]) -> None:
    async with PrefectClient(stack.prefect_api_url) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [(await client.read_flow_run(i)).state for i in flow_run_ids]
            if all(state is not None and state.is_final() for state in states):
                return
            await asyncio.sleep(0.5)
    raise AssertionError(f"flow runs {flow_run_ids} not final after 120 s")


class TestTicks:
    def test_worker_down_across_two_ticks_applies_each_policy(
        self, missed_ticks: MissedTicks, stack: Stack
    ) -> None:
        """Real ticks of an every-minute cron passed while the worker was stopped (the
        scenario runs while the session boots: tests/session_stack.py).

        When it came back, the first tick was over a minute late and the second a few
        seconds: `latest` runs only the second, `none` skips the first as missed (past the
        60 s grace), and `all` with `stale_after: 1m` skips the first as stale and runs
        the second.
        """
        expected = {
            "latest": ("skipped", "superseded", "completed"),
            "none": ("skipped", "missed", "completed"),
            "stale": ("skipped", "stale", "completed"),
        }
        assert set(missed_ticks.schedules) == set(expected)
        headers = {"Authorization": f"Bearer {missed_ticks.api_key}"}
        second_runs = {}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as owner:
            for label, schedule in missed_ticks.schedules.items():
                runs = wait_for_schedule_runs(owner, schedule["id"], 2, timeout=120)
                owner.delete(f"/api/schedules/{schedule['id']}")  # no more ticks
                by_tick = {datetime.fromisoformat(r["scheduled_for"]): r for r in runs}
                first, second = by_tick[missed_ticks.first], by_tick[missed_ticks.second]
                second_runs[label] = second
                first_status, first_reason, second_status = expected[label]
                assert first["status"] == first_status, (label, first)
                assert first["reason"].startswith(first_reason), first
                assert second["status"] == second_status, (label, second)
            # A scheduled run expands its set when it starts (all 50 tickers of tech_majors).
            latest = owner.get(f"/api/runs/{second_runs['latest']['run_id']}").json()
        assert len(latest["snapshot"]["tickers"]) == 50

    def test_two_flow_runs_for_one_tick_give_one_run(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        # Today's midnight tick, still within a day's stale_after: it must run, once.
        created = create(alice, cron="0 0 * * *", stale_after="1d")
        tick = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        deployment_id = created["prefect"]["deployment_id"]
        flow_runs = [run(_make_tick(stack, deployment_id, tick)) for _ in range(2)]
        run(_wait_until_final(stack, flow_runs))  # both flow runs have finished
        runs = schedule_runs(alice, created["id"])
        assert len(runs) == 1, runs
        assert runs[0]["status"] == "completed"
        assert datetime.fromisoformat(runs[0]["scheduled_for"]) == tick

    def test_holiday_tick_is_skipped_with_the_reason(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        created = create(alice, cron="0 15 * * *", calendar="XNYS")
        # A past tick, so the worker takes it now: Labor Day, a Monday the NYSE is shut.
        labor_day = datetime(2026, 9, 7, 15, 0, tzinfo=UTC)
        run(_make_tick(stack, created["prefect"]["deployment_id"], labor_day))
        (only,) = wait_for_schedule_runs(alice, created["id"], 1)
        assert only["status"] == "skipped"
        assert "XNYS is closed on 2026-09-07" in only["reason"]


class TestTrigger:
    def test_trigger_runs_now_with_the_schedules_parameters(
        self, alice: httpx.Client, bob: httpx.Client, admin: httpx.Client
    ) -> None:
        created = create(alice, task_params={"top_n": 3})
        response = alice.post(f"/api/schedules/{created['id']}/trigger")
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
        finished = wait_for_run(alice, run_id)
        assert finished["status"] == "completed", finished
        assert finished["schedule_id"] == created["id"]
        assert finished["scheduled_for"] is None
        assert finished["prefect"]["deployment"] == f"screener/{created['slug']}"
        assert finished["snapshot"]["top_n"] == 3
        assert bob.post(f"/api/schedules/{created['id']}/trigger").status_code == 404
        by_admin = admin.post(f"/api/schedules/{created['id']}/trigger")
        assert by_admin.status_code == 202
        assert alice.get(f"/api/runs/{by_admin.json()['run_id']}").json()["owner"] == "alice"
