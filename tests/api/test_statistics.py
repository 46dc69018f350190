"""GET /api/runs/statistics: counts and timing percentiles of the caller's runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.test_runs_listing import insert_run, list_runs, new_user
from tests.factories import submit_screener, wait_for_run
from tests.stack import Stack

pytestmark = pytest.mark.stack

STATUSES = [
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
    "crashed",
    "skipped",
    "dead_lettered",
]


def statistics(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/runs/statistics", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def dana(stack: Stack) -> Iterator[httpx.Client]:
    """A user with two real screener runs, a report, and older finished rows."""
    name, client = new_user(stack, "dana")
    with client:
        now = datetime.now(UTC)
        insert_run(stack, name, "failed", created_at=now - timedelta(hours=5), error="boom")
        insert_run(stack, name, "skipped", created_at=now - timedelta(hours=4), reason="closed")
        insert_run(stack, name, "completed", created_at=now - timedelta(days=40))
        runs = [submit_screener(client), submit_screener(client, top_n=2)]
        response = client.post("/api/reports/run", json={"report_type": "system_status"})
        assert response.status_code == 202, response.text
        runs.append(response.json()["run_id"])
        for run_id in runs:
            assert wait_for_run(client, run_id)["status"] == "completed"
        yield client


@pytest.fixture(scope="module")
def erin(stack: Stack) -> Iterator[httpx.Client]:
    """A user whose only runs are rows with hand-picked timestamps."""
    name, client = new_user(stack, "erin")
    with client:
        tick = datetime.now(UTC) - timedelta(hours=2)
        # A schedule tick created 5 s early, started 3 s late, 10 s long.
        insert_run(
            stack,
            name,
            "completed",
            job_type="report",
            created_at=tick - timedelta(seconds=5),
            scheduled_for=tick,
            started_at=tick + timedelta(seconds=3),
            finished_at=tick + timedelta(seconds=13),
        )
        # Ad hoc: started 1 s after it was created, 30 s long.
        insert_run(
            stack,
            name,
            "failed",
            job_type="report",
            created_at=tick,
            started_at=tick + timedelta(seconds=1),
            finished_at=tick + timedelta(seconds=31),
        )
        yield client


class TestStatistics:
    def test_counts_match_the_listing_for_the_same_user(self, dana: httpx.Client) -> None:
        stats = statistics(dana, days=30)

        since = stats["since"]
        assert list(stats["status_counts"]) == STATUSES
        for status in STATUSES:
            listed = list_runs(dana, status=status, since=since)["total"]
            assert stats["status_counts"][status] == listed, status
        for job_type, n in stats["job_type_counts"].items():
            assert n == list_runs(dana, job_type=job_type, since=since)["total"], job_type
            assert stats["by_job_type"][job_type]["runs"] == n
        assert stats["total_runs"] == list_runs(dana, since=since)["total"] == 5

    def test_success_rate_is_completed_over_completed_failed_and_crashed(
        self, dana: httpx.Client
    ) -> None:
        stats = statistics(dana)

        assert stats["days"] == 30
        assert stats["status_counts"]["completed"] == 3
        assert stats["success_rate"] == 0.75  # the skipped run does not count

    def test_real_runs_have_durations_and_lateness(self, dana: httpx.Client) -> None:
        screener = statistics(dana)["by_job_type"]["screener"]

        assert screener["runs"] == 4
        duration, lateness = screener["duration_seconds"], screener["start_lateness_seconds"]
        assert 0 <= duration["p50"] <= duration["p95"]
        assert 0 < lateness["p50"] <= lateness["p95"]

    def test_window_leaves_out_older_runs(self, dana: httpx.Client) -> None:
        assert statistics(dana, days=1)["total_runs"] == 5
        assert statistics(dana, days=60)["total_runs"] == 6

    def test_percentiles_follow_the_documented_definitions(self, erin: httpx.Client) -> None:
        report = statistics(erin)["by_job_type"]["report"]

        assert report["runs"] == 2
        # durations [10, 30]: p50 20, p95 10 + 0.95 * 20
        assert report["duration_seconds"] == {"p50": 20.0, "p95": 29.0}
        # lateness from the tick [3], from creation [1]: p50 2, p95 1 + 0.95 * 2
        assert report["start_lateness_seconds"] == {"p50": 2.0, "p95": 2.9}

    def test_fresh_user_has_nothing_and_no_success_rate(self, stack: Stack) -> None:
        _, fresh = new_user(stack, "fresh")
        with fresh:
            stats = statistics(fresh)

        assert stats["total_runs"] == 0
        assert stats["success_rate"] is None
        assert set(stats["status_counts"].values()) == {0}
        assert stats["by_job_type"]["screener"] == {
            "runs": 0,
            "duration_seconds": {"p50": None, "p95": None},
            "start_lateness_seconds": {"p50": None, "p95": None},
        }

    def test_admin_sees_at_least_every_users_runs(
        self,
        admin: httpx.Client,
        alice: httpx.Client,
        bob: httpx.Client,
        dana: httpx.Client,
        erin: httpx.Client,
    ) -> None:
        users = sum(statistics(c)["total_runs"] for c in (alice, bob, dana, erin))

        assert statistics(admin)["total_runs"] >= users

    @pytest.mark.parametrize("days", [0, 366, -1])
    def test_days_out_of_range_is_422(self, alice: httpx.Client, days: int) -> None:
        response = alice.get("/api/runs/statistics", params={"days": days})

        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["field"] == "days"

    def test_anonymous_is_401(self, anonymous: httpx.Client) -> None:
        assert anonymous.get("/api/runs/statistics").status_code == 401
