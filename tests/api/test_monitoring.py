"""GET /metrics and GET /stats: on the running stack, and with a dependency down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from flowdesk.accounts.service import create_user
from flowdesk.db.desk import RiskScore
from flowdesk.db.engine import make_engine, session_scope
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import JobType, Run, RunStatus
from flowdesk.db.types import utcnow
from flowdesk.settings import get_settings
from tests.api.test_runs_listing import insert_run, new_user
from tests.factories import submit_screener, wait_for_run
from tests.services import free_port
from tests.stack import Stack

pytestmark = pytest.mark.stack

STATUSES = {s.value for s in RunStatus}
JOB_TYPES = {j.value for j in JobType}
SEED_METRICS = {
    "flowdesk_jobs_total",
    "flowdesk_job_duration_seconds",
    "flowdesk_tasks_total",
    "flowdesk_task_duration_seconds",
    "flowdesk_active_workers",
    "flowdesk_companies_analyzed_total",
    "flowdesk_insights_generated_total",
    "flowdesk_errors_total",
}


def scrape(client: httpx.Client) -> dict[str, float]:
    """Every sample of GET /metrics by `name{k="v",…}` (labels sorted)."""
    return samples_of(client.get("/metrics"))


def samples_of(response: httpx.Response) -> dict[str, float]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def type_lines(response: httpx.Response) -> set[str]:
    return {line.split()[2] for line in response.text.splitlines() if line.startswith("# TYPE")}


def stats(client: httpx.Client) -> dict[str, Any]:
    return body_of(client.get("/stats"))


def body_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


COMPLETED = 'flowdesk_jobs_total{job_type="screener",status="completed"}'
DURATIONS = 'flowdesk_job_duration_seconds_count{job_type="screener"}'


class TestMetrics:
    def test_metrics_need_no_key_and_list_every_seed_metric(self, anonymous: httpx.Client) -> None:
        assert type_lines(anonymous.get("/metrics")) == SEED_METRICS

    def test_the_worker_is_an_active_worker(self, anonymous: httpx.Client) -> None:
        assert scrape(anonymous)["flowdesk_active_workers{}"] >= 1

    def test_a_completed_screener_counts_once_with_its_duration(
        self, alice: httpx.Client, anonymous: httpx.Client
    ) -> None:
        before = scrape(anonymous)
        run = wait_for_run(alice, submit_screener(alice))
        assert run["status"] == "completed"
        after = scrape(anonymous)

        assert after[COMPLETED] == before.get(COMPLETED, 0) + 1
        assert after[DURATIONS] == before.get(DURATIONS, 0) + 1
        bucket = 'flowdesk_job_duration_seconds_bucket{job_type="screener",le="+Inf"}'
        assert after[bucket] == after[DURATIONS]
        # Read again (possibly reconciled once more): still counted once.
        wait_for_run(alice, run["run_id"])
        assert scrape(anonymous)[COMPLETED] == after[COMPLETED]


class TestStats:
    def test_stats_need_a_key(self, anonymous: httpx.Client) -> None:
        response = anonymous.get("/stats")

        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"

    def test_stats_have_the_documented_fields(self, alice: httpx.Client) -> None:
        wait_for_run(alice, submit_screener(alice))
        body = stats(alice)

        assert body["scope"] == "own"
        assert set(body) == {
            "generated_at",
            "scope",
            "runs",
            "dead_letters_waiting",
            "workers_online",
            "queues",
            "prefect_error",
            "circuit_breakers",
            "desk",
        }
        for window in ("last_24h", "last_7d"):
            runs = body["runs"][window]
            assert set(runs["by_status"]) == STATUSES
            assert set(runs["by_job_type"]) == JOB_TYPES
            assert runs["by_job_type"]["screener"] >= 1
            assert runs["total"] == sum(c["count"] for c in runs["counts"])
        assert body["runs"]["last_7d"]["total"] >= body["runs"]["last_24h"]["total"]
        assert body["workers_online"] >= 1
        assert body["prefect_error"] is None
        assert {q["name"] for q in body["queues"]} == {"high", "default", "low"}
        assert set(body["desk"]) == {
            "companies_analyzed_24h",
            "insights_24h",
            "insights_7d",
            "alerts_24h",
            "alerts_7d",
            "top_risks",
        }
        assert isinstance(body["circuit_breakers"], list)

    def test_a_user_sees_only_their_runs_and_dead_letters(
        self, stack: Stack, alice: httpx.Client, admin: httpx.Client
    ) -> None:
        name, client = new_user(stack, "mona")
        with client:
            assert stats(client)["runs"]["last_7d"]["total"] == 0
            insert_run(stack, name, "dead_lettered", error="news-feed is unavailable")
            insert_run(stack, name, "failed", created_at=utcnow() - timedelta(days=2))
            own = stats(client)
        everyone = stats(admin)

        assert own["dead_letters_waiting"] == 1
        assert own["runs"]["last_24h"]["by_status"]["dead_lettered"] == 1
        assert own["runs"]["last_24h"]["total"] == 1
        assert own["runs"]["last_7d"]["total"] == 2
        assert stats(alice)["dead_letters_waiting"] == 0
        assert everyone["scope"] == "all"
        assert everyone["dead_letters_waiting"] >= 1
        assert everyone["runs"]["last_7d"]["total"] > own["runs"]["last_7d"]["total"]


async def _seed(url: str) -> str:
    """An analysis run dead-lettered and a few risk scores; the key of their owner."""
    engine = make_engine(url)
    try:
        async with session_scope(engine) as session:
            user, key = await create_user(session, "olga", is_admin=False)
            now = utcnow()
            session.add(
                Run(
                    owner_id=user.id,
                    job_type=JobType.ANALYSIS,
                    target="daily",
                    status=RunStatus.DEAD_LETTERED,
                    snapshot={},
                    artifacts=[],
                )
            )
            for company, score, age_hours in [
                ("GILD", 80.0, 30),  # superseded by the next row: not current
                ("GILD", 20.0, 1),
                ("MRNA", 55.0, 2),
                ("PFE", 70.0, 3),
            ]:
                session.add(
                    RiskScore(
                        id=uuid.uuid4(),
                        company_id=company,
                        score=score,
                        computed_at=now - timedelta(hours=age_hours),
                    )
                )
        return key
    finally:
        await engine.dispose()


def get_offline(database_url: str, *paths: str, key: str | None = None) -> list[httpx.Response]:
    """GET each path from an API run in-process on `database_url`, with nothing listening
    at its Prefect URL."""
    settings = get_settings().model_copy(
        update={
            "database_url": database_url,
            "prefect_api_url": f"http://127.0.0.1:{free_port()}/api",
            "redis_url": None,
        }
    )
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://offline", headers=headers
            ) as client:
                return [await client.get(path) for path in paths]

    return asyncio.run(main())


@pytest.fixture
def offline_database(tmp_path: Path) -> tuple[str, str]:
    """A seeded SQLite database's URL and its user's key."""
    url = f"sqlite:///{tmp_path / 'offline.db'}"
    upgrade(url)
    return url, asyncio.run(_seed(url))


class TestDependencyDown:
    def test_metrics_render_without_active_workers_while_prefect_is_down(
        self, offline_database: tuple[str, str]
    ) -> None:
        (response,) = get_offline(offline_database[0], "/metrics")

        assert type_lines(response) == SEED_METRICS
        assert "flowdesk_active_workers{}" not in samples_of(response)

    def test_stats_report_prefect_down_and_everything_else(
        self, offline_database: tuple[str, str]
    ) -> None:
        url, key = offline_database
        (response,) = get_offline(url, "/stats", key=key)
        body = body_of(response)

        assert body["workers_online"] is None
        assert body["queues"] is None
        assert "unreachable" in body["prefect_error"]
        assert body["dead_letters_waiting"] == 1
        assert body["runs"]["last_24h"]["by_job_type"]["analysis"] == 1
        assert [(r["company_id"], r["score"]) for r in body["desk"]["top_risks"]] == [
            ("PFE", 70.0),
            ("MRNA", 55.0),
            ("GILD", 20.0),
        ]

    def test_metrics_are_503_while_the_database_is_down(self) -> None:
        dead_database = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/flowdesk"
        (response,) = get_offline(dead_database, "/metrics")

        assert response.status_code == 503
        assert response.json()["error"] == "ServiceUnavailable"
