"""POST /api/runs/{id}/rerun: a finished run runs again from its exact snapshot."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from prefect.client.orchestration import PrefectClient

from tests.api.test_runs_listing import insert_run, snapshot_dsn
from tests.factories import submit_screener, wait_for_run
from tests.stack import Stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def completed(alice: httpx.Client) -> dict[str, Any]:
    """One of alice's screener runs, completed: the original most tests rerun."""
    run_id = submit_screener(alice, tickers=["AAPL", "MSFT", "NVDA", "JPM"], screener_set=None)
    run = wait_for_run(alice, run_id)
    assert run["status"] == "completed", run
    return run


def rerun(client: httpx.Client, run_id: str, **headers: str) -> httpx.Response:
    return client.post(f"/api/runs/{run_id}/rerun", headers=headers)


def stored_snapshot(stack: Stack, run_id: str) -> str:
    """The snapshot as Postgres stores and prints it."""
    with psycopg.connect(snapshot_dsn(stack)) as conn:
        row = conn.execute("SELECT snapshot::text FROM runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None, f"no row for run {run_id}"
    return str(row[0])


def flow_run_tags(stack: Stack, run: dict[str, Any]) -> set[str]:
    async def read() -> set[str]:
        async with PrefectClient(stack.prefect_api_url) as client:
            flow_run = await client.read_flow_run(uuid.UUID(run["prefect"]["flow_run_id"]))
        return set(flow_run.tags)

    return asyncio.run(read())


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class TestRerunFinishedRun:
    def test_completed_run_reruns_from_the_identical_snapshot_to_identical_results(
        self, alice: httpx.Client, stack: Stack, completed: dict[str, Any]
    ) -> None:
        response = rerun(alice, completed["run_id"])

        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["run_id"] != completed["run_id"]
        assert accepted["job_type"] == "screener"
        assert response.headers["Location"] == f"/api/runs/{accepted['run_id']}"
        again = wait_for_run(alice, accepted["run_id"])
        assert again["status"] == "completed", again
        assert again["rerun_of"] == completed["run_id"]
        assert canonical(again["snapshot"]) == canonical(completed["snapshot"])
        assert stored_snapshot(stack, again["run_id"]) == stored_snapshot(
            stack, completed["run_id"]
        )
        assert again["result"] == completed["result"]
        assert (again["owner"], again["target"], again["priority"]) == (
            completed["owner"],
            completed["target"],
            completed["priority"],
        )
        assert again["prefect"]["flow_run_id"] != completed["prefect"]["flow_run_id"]
        assert again["prefect"]["deployment"] == "screener/adhoc"
        rows = [
            alice.get(f"/api/runs/{r['run_id']}/artifacts/results.json").json()["rows"]
            for r in (completed, again)
        ]
        assert rows[0] == rows[1]

    def test_rerun_shows_in_the_listing_with_its_original(
        self, alice: httpx.Client, completed: dict[str, Any]
    ) -> None:
        accepted = rerun(alice, completed["run_id"]).json()

        page = alice.get("/api/runs", params={"limit": 5}).json()

        item = next(i for i in page["items"] if i["run_id"] == accepted["run_id"])
        assert item["rerun_of"] == completed["run_id"]
        wait_for_run(alice, accepted["run_id"])

    def test_same_idempotency_key_returns_the_same_rerun(
        self, alice: httpx.Client, completed: dict[str, Any]
    ) -> None:
        key = f"rerun-{uuid.uuid4().hex}"

        first = rerun(alice, completed["run_id"], **{"Idempotency-Key": key})
        second = rerun(alice, completed["run_id"], **{"Idempotency-Key": key})

        assert first.status_code == second.status_code == 202
        assert first.json()["run_id"] == second.json()["run_id"]
        wait_for_run(alice, first.json()["run_id"])

    def test_skipped_schedule_tick_reruns_ad_hoc_from_its_snapshot(
        self, alice: httpx.Client, stack: Stack, completed: dict[str, Any]
    ) -> None:
        tick = datetime.now(UTC) - timedelta(hours=1)
        skipped = insert_run(
            stack,
            "alice",
            "skipped",
            reason="market closed",
            snapshot=completed["snapshot"],
            schedule_id=uuid.uuid4(),
            scheduled_for=tick,
            created_at=tick,
            finished_at=tick,
        )

        response = rerun(alice, skipped)

        assert response.status_code == 202, response.text
        again = wait_for_run(alice, response.json()["run_id"])
        assert again["status"] == "completed", again
        assert again["rerun_of"] == skipped
        assert again["schedule_id"] is None
        assert again["scheduled_for"] is None
        assert again["prefect"]["deployment"] == "screener/adhoc"
        assert canonical(again["snapshot"]) == canonical(completed["snapshot"])

    def test_admin_rerun_of_alices_run_is_alices(
        self, alice: httpx.Client, admin: httpx.Client, stack: Stack, completed: dict[str, Any]
    ) -> None:
        response = rerun(admin, completed["run_id"])

        assert response.status_code == 202, response.text
        new_id = response.json()["run_id"]
        again = wait_for_run(alice, new_id)  # alice can read it: it is hers
        assert again["owner"] == "alice"
        assert again["status"] == "completed", again
        # Byte-identical: it still says alice submitted it; the admin is not written in.
        assert canonical(again["snapshot"]) == canonical(completed["snapshot"])
        # Prefect's flow run says who asked for it, and which run it repeats.
        tags = flow_run_tags(stack, again)
        assert {"owner:alice", "requested-by:root-admin"} <= tags
        assert f"rerun-of:{completed['run_id']}" in tags


class TestRerunRefused:
    def test_pending_run_is_409(
        self, alice: httpx.Client, stack: Stack, paused_default_queue: None
    ) -> None:
        run_id = submit_screener(alice)
        try:
            assert alice.get(f"/api/runs/{run_id}").json()["status"] == "pending"

            response = rerun(alice, run_id)

            assert response.status_code == 409, response.text
            body = response.json()
            assert body["error"] == "RunNotRerunnable"
            assert "pending" in body["detail"]
            assert alice.get("/api/runs", params={"limit": 5}).json()["items"][0]["run_id"] == (
                run_id
            ), "a refused rerun leaves no run behind"
        finally:
            alice.delete(f"/api/runs/{run_id}")

    def test_someone_elses_run_is_404(self, bob: httpx.Client, completed: dict[str, Any]) -> None:
        response = rerun(bob, completed["run_id"])

        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"

    def test_unknown_run_is_404(self, alice: httpx.Client) -> None:
        response = rerun(alice, str(uuid.uuid4()))

        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"

    def test_anonymous_is_401(self, anonymous: httpx.Client, completed: dict[str, Any]) -> None:
        assert rerun(anonymous, completed["run_id"]).status_code == 401
