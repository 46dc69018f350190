"""GET /api/runs: each caller's runs, newest first, filtered and paged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.factories import submit_screener, wait_for_run
from tests.stack import Stack

pytestmark = pytest.mark.stack


def snapshot_dsn(stack: Stack) -> str:
    return stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def insert_run(stack: Stack, owner: str, status: str, **columns: Any) -> str:
    """A run row written straight to Postgres, as a schedule tick or an old run would be.

    Only finished or scheduled rows: a pending ad-hoc row without a flow run would be
    resubmitted by the API's reconciler.
    """
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "job_type": "screener",
        "target": "tech_majors",
        "status": status,
        "priority": "default",
        "snapshot": {"job_type": "screener", "tickers": ["AAPL"]},
        "artifacts": [],
        "created_at": now,
        "updated_at": now,
        **columns,
    }
    for name in ("snapshot", "result", "artifacts"):
        if name in row and row[name] is not None:
            row[name] = Jsonb(row[name])
    with psycopg.connect(snapshot_dsn(stack), autocommit=True) as conn:
        user = conn.execute("SELECT id FROM users WHERE name = %s", (owner,)).fetchone()
        assert user is not None, f"no user {owner}"
        row["owner_id"] = user[0]
        names, values = ", ".join(row), ", ".join(f"%({n})s" for n in row)
        conn.execute(f"INSERT INTO runs ({names}) VALUES ({values})", row)
    return str(row["id"])


def new_user(stack: Stack, prefix: str) -> tuple[str, httpx.Client]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    key = stack.create_user(name)
    client = httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return name, client


def list_runs(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/runs", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [item["run_id"] for item in page["items"]]


@dataclass(frozen=True)
class Desk:
    """The runs this module made: carol's, plus one each for alice and bob."""

    carol: httpx.Client
    carol_name: str
    screeners: list[str]
    report: str
    failed: str  # three days old
    skipped: str  # a schedule tick two days old
    schedule_id: str
    alice_run: str
    bob_run: str


@pytest.fixture(scope="module")
def desk(stack: Stack, alice: httpx.Client, bob: httpx.Client) -> Iterator[Desk]:
    name, carol = new_user(stack, "carol")
    with carol:
        yield make_desk(stack, carol, name, alice, bob)


def make_desk(
    stack: Stack, carol: httpx.Client, name: str, alice: httpx.Client, bob: httpx.Client
) -> Desk:
    now = datetime.now(UTC)
    schedule_id = str(uuid.uuid4())
    failed = insert_run(
        stack,
        name,
        "failed",
        error="boom",
        created_at=now - timedelta(days=3),
        started_at=now - timedelta(days=3),
        finished_at=now - timedelta(days=3),
    )
    skipped = insert_run(
        stack,
        name,
        "skipped",
        reason="market closed",
        schedule_id=uuid.UUID(schedule_id),
        scheduled_for=now - timedelta(days=2),
        created_at=now - timedelta(days=2),
        finished_at=now - timedelta(days=2),
    )
    screeners = [submit_screener(carol), submit_screener(carol, top_n=3)]
    response = carol.post("/api/reports/run", json={"report_type": "system_status"})
    assert response.status_code == 202, response.text
    report = response.json()["run_id"]
    alice_run, bob_run = submit_screener(alice), submit_screener(bob)
    for client, run_id in [
        *((carol, r) for r in [*screeners, report]),
        (alice, alice_run),
        (bob, bob_run),
    ]:
        assert wait_for_run(client, run_id)["status"] == "completed"
    return Desk(carol, name, screeners, report, failed, skipped, schedule_id, alice_run, bob_run)


class TestListScope:
    def test_alice_sees_only_her_runs(self, desk: Desk, alice: httpx.Client) -> None:
        page = list_runs(alice, limit=200)

        assert desk.alice_run in ids(page)
        assert {item["owner"] for item in page["items"]} == {"alice"}

    def test_bob_sees_only_his_runs(self, desk: Desk, bob: httpx.Client) -> None:
        page = list_runs(bob, limit=200)

        assert desk.bob_run in ids(page)
        assert {item["owner"] for item in page["items"]} == {"bob"}

    def test_admin_sees_everyones_runs(self, desk: Desk, admin: httpx.Client) -> None:
        page = list_runs(admin, limit=200)

        assert {desk.alice_run, desk.bob_run, desk.report} <= set(ids(page))
        assert {"alice", "bob", desk.carol_name} <= {item["owner"] for item in page["items"]}

    def test_admin_owner_filter_narrows_to_that_user(self, desk: Desk, admin: httpx.Client) -> None:
        page = list_runs(admin, owner=desk.carol_name)

        assert page["total"] == 5
        assert {item["owner"] for item in page["items"]} == {desk.carol_name}

    def test_non_admin_asking_for_another_owner_gets_an_empty_list(
        self, desk: Desk, alice: httpx.Client
    ) -> None:
        page = list_runs(alice, owner="bob")

        assert page == {"items": [], "total": 0, "limit": 50, "offset": 0}

    def test_non_admin_naming_herself_as_owner_gets_her_runs(self, desk: Desk) -> None:
        assert list_runs(desk.carol, owner=desk.carol_name)["total"] == 5


class TestListFilters:
    def test_newest_first(self, desk: Desk) -> None:
        page = list_runs(desk.carol)

        created = [item["created_at"] for item in page["items"]]
        assert created == sorted(created, reverse=True)
        assert page["total"] == 5
        assert ids(page)[-2:] == [desk.skipped, desk.failed]

    def test_status_narrows_to_that_status(self, desk: Desk) -> None:
        page = list_runs(desk.carol, status="completed")

        assert sorted(ids(page)) == sorted([*desk.screeners, desk.report])
        assert page["total"] == 3

    def test_status_takes_a_comma_list_or_repeats(self, desk: Desk) -> None:
        commas = list_runs(desk.carol, status="failed,skipped")
        repeated = desk.carol.get("/api/runs", params=[("status", "failed"), ("status", "skipped")])

        assert sorted(ids(commas)) == sorted([desk.failed, desk.skipped])
        assert ids(repeated.json()) == ids(commas)

    def test_job_type_narrows_to_that_job_type(self, desk: Desk) -> None:
        page = list_runs(desk.carol, job_type="report")

        assert ids(page) == [desk.report]
        assert page["items"][0]["target"] == "system_status"

    def test_schedule_id_narrows_to_that_schedules_runs(self, desk: Desk) -> None:
        page = list_runs(desk.carol, schedule_id=desk.schedule_id)

        assert ids(page) == [desk.skipped]
        item = page["items"][0]
        assert item["schedule_id"] == desk.schedule_id
        assert item["scheduled_for"] is not None
        assert item["reason"] == "market closed"

    def test_since_and_until_bound_the_creation_time(self, desk: Desk) -> None:
        now = datetime.now(UTC)

        recent = list_runs(desk.carol, since=(now - timedelta(days=1)).isoformat())
        older = list_runs(desk.carol, until=(now - timedelta(days=1)).isoformat())
        between = list_runs(
            desk.carol,
            since=(now - timedelta(days=2, hours=12)).isoformat(),
            until=(now - timedelta(days=1)).isoformat(),
        )

        assert sorted(ids(recent)) == sorted([*desk.screeners, desk.report])
        assert ids(older) == [desk.skipped, desk.failed]
        assert ids(between) == [desk.skipped]

    def test_filters_combine(self, desk: Desk) -> None:
        page = list_runs(desk.carol, status="completed,failed", job_type="screener")

        assert sorted(ids(page)) == sorted([*desk.screeners, desk.failed])

    def test_summary_is_light_and_links_to_prefect(self, desk: Desk) -> None:
        item = list_runs(desk.carol, job_type="report")["items"][0]

        assert not {"snapshot", "result", "artifacts"} & item.keys()
        assert item["owner"] == desk.carol_name
        assert item["status"] == "completed"
        assert item["duration_seconds"] >= 0
        assert item["rerun_of"] is None
        flow_run_id = item["prefect"]["flow_run_id"]
        assert item["prefect"]["ui_url"].endswith(f"/runs/flow-run/{flow_run_id}")

    def test_run_detail_shows_why_it_was_skipped(self, desk: Desk) -> None:
        run = desk.carol.get(f"/api/runs/{desk.skipped}").json()

        assert run["status"] == "skipped"
        assert run["reason"] == "market closed"


class TestListPagination:
    def test_limit_one_pages_through_every_run_with_a_stable_total(self, desk: Desk) -> None:
        everything = list_runs(desk.carol)
        seen: list[str] = []
        for offset in range(everything["total"]):
            page = list_runs(desk.carol, limit=1, offset=offset)
            assert page["total"] == everything["total"]
            assert (page["limit"], page["offset"]) == (1, offset)
            seen.extend(ids(page))

        assert seen == ids(everything)

    def test_offset_past_the_end_is_an_empty_page(self, desk: Desk) -> None:
        page = list_runs(desk.carol, offset=50)

        assert page["items"] == []
        assert page["total"] == 5


class TestListValidation:
    def test_unknown_status_is_422_naming_status_and_the_allowed_values(
        self, alice: httpx.Client
    ) -> None:
        response = alice.get("/api/runs", params={"status": "completed,done"})

        assert response.status_code == 422, response.text
        body = response.json()
        assert body["fields"][0]["field"] == "status"
        assert "'done'" in body["detail"]
        for allowed in ("pending", "completed", "skipped"):
            assert allowed in body["detail"]

    def test_since_after_until_is_422(self, alice: httpx.Client) -> None:
        response = alice.get(
            "/api/runs",
            params={"since": "2026-03-02T10:00:00+00:00", "until": "2026-03-01T10:00:00+00:00"},
        )

        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["field"] == "since"

    def test_since_without_a_timezone_is_422(self, alice: httpx.Client) -> None:
        response = alice.get("/api/runs", params={"since": "2026-03-02T10:00:00"})

        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["field"] == "since"

    @pytest.mark.parametrize(("name", "value"), [("limit", 0), ("limit", 201), ("offset", -1)])
    def test_limit_or_offset_out_of_range_is_422(
        self, alice: httpx.Client, name: str, value: int
    ) -> None:
        response = alice.get("/api/runs", params={name: value})

        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["field"] == name

    def test_unknown_job_type_is_422(self, alice: httpx.Client) -> None:
        response = alice.get("/api/runs", params={"job_type": "scan"})

        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["field"] == "job_type"

    def test_anonymous_is_401(self, anonymous: httpx.Client) -> None:
        assert anonymous.get("/api/runs").status_code == 401
