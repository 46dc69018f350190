"""The biotech desk end to end: analysis scans over the sample feeds and the Backend API,
alerts to a webhook, retries, the circuit breaker, dead letters, maintenance, timetable."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.schedules import CronSchedule

from flowdesk.biotech.analysis import analyze
from flowdesk.biotech.companies import load_companies
from flowdesk.biotech.news.sample import SampleFeedSource
from tests import services
from tests.api.test_runs_listing import insert_run, snapshot_dsn
from tests.desk_services import BackendApi, WebhookReceiver, sample_dir
from tests.factories import wait_for_run
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.stack


@pytest.fixture(autouse=True)
def healthy_backend(backend_api: BackendApi) -> None:
    backend_api.recover()
    services.reset_breakers()


def scan(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/analysis/run", json=body)
    assert response.status_code == 202, response.text
    return wait_for_run(client, response.json()["run_id"], timeout=180)


def expected(company_ids: list[str]) -> dict[str, Any]:
    """What the model makes of the sample feeds for these companies, computed here."""
    registry = load_companies(ROOT / "config" / "companies.yaml")
    now = datetime.now(UTC)
    source = SampleFeedSource(sample_dir(), registry, now)
    results = {}
    for company_id in company_ids:
        company = registry.get(company_id)
        items = asyncio.run(source.fetch(company, now - timedelta(days=30)))
        results[company_id] = analyze(
            items,
            company_id=company_id,
            priority=company.priority,
            seen_fingerprints=set(),
            previous_risk=None,
            previous_risk_at=None,
            now=now,
        )
    return results


class TestAnalysisOverSampleFeeds:
    def test_scan_stores_the_models_insights_risk_and_alerts_and_posts_the_loud_ones(
        self, alice: httpx.Client, alert_receiver: WebhookReceiver
    ) -> None:
        companies = ["GILD", "MRNA", "PFE", "JNJ"]
        want = expected(companies)
        before = len(alert_receiver.alerts())

        run = scan(alice, companies=companies)

        assert run["status"] == "completed", run
        assert run["job_type"] == "analysis"
        result = run["result"]
        assert result["companies"] == 4
        assert result["companies_failed"] == []
        assert result["insights"] == sum(len(r.insights) for r in want.values())
        assert result["duplicates"] == sum(r.duplicates for r in want.values())
        for company_id, model in want.items():
            page = alice.get("/api/insights", params={"company": company_id, "limit": 200})
            stored = {i["title"]: i for i in page.json()["items"]}
            assert set(stored) == {i.title for i in model.insights}
            for insight in model.insights:
                row = stored[insight.title]
                assert row["event_type"] == insight.event_type.value
                assert row["sentiment"] == pytest.approx(insight.sentiment, abs=1e-3)
                assert row["materiality"] == pytest.approx(insight.materiality, abs=1e-3)
            company = alice.get(f"/api/companies/{company_id}").json()
            assert company["risk"]["score"] == pytest.approx(model.risk.score, abs=0.05)
            assert len(company["risk_history"]) == 1
        # Alerts: every model alert is stored; warning and above reach the webhook.
        alerts = alice.get("/api/alerts", params={"limit": 200}).json()["items"]
        ours = [a for a in alerts if a["run_id"] == run["run_id"]]
        model_alerts = {
            (i.company_id, i.title, i.severity.value)
            for r in want.values()
            for i in r.alerts
            if i.severity
        }
        assert {(a["company_id"], a["title"], a["severity"]) for a in ours} == model_alerts
        loud = {(c, t) for c, t, s in model_alerts if s in ("warning", "critical")}
        assert loud, "the sample feeds should raise at least one warning"
        posted = alert_receiver.wait_for(before + len(loud))[before:]
        assert {(p["company_id"], p["title"]) for p in posted} == loud
        for post in posted:
            assert post["subject"].startswith(f"[{post['severity']}] {post['company_id']} ")
        delivered = [a for a in ours if a["severity"] in ("warning", "critical")]
        assert all(a["delivered_at"] and a["deliveries"][0]["ok"] for a in delivered)

    def test_a_second_scan_adds_nothing_and_sends_nothing_again(
        self, alice: httpx.Client, alert_receiver: WebhookReceiver
    ) -> None:
        # BioNTech's sample news includes stories of the last day, which the second scan
        # (asking for news since two days before the first) receives again.
        first = scan(alice, companies=["BNTX"])
        assert first["result"]["insights"] >= 1
        posted = len(alert_receiver.alerts())

        again = scan(alice, companies=["BNTX"])

        assert again["status"] == "completed"
        (line,) = again["result"]["per_company"]
        assert line["received"] >= 1
        assert line["duplicates"] == line["received"]
        assert again["result"]["insights"] == 0
        assert len(alert_receiver.alerts()) == posted
        history = alice.get("/api/companies/BNTX").json()["risk_history"]
        assert len(history) == 2  # one score per scan, the newest first

    def test_unknown_company_and_bad_scan_are_422_naming_the_field(
        self, alice: httpx.Client
    ) -> None:
        response = alice.post("/api/analysis/run", json={"companies": ["NOPE"]})
        assert response.status_code == 422
        assert response.json()["fields"][0]["field"] == "companies"
        response = alice.post("/api/analysis/run", json={"scan": "weekly"})
        assert response.status_code == 422
        assert "scan" in response.json()["fields"][0]["field"]


class TestBackendFaults:
    def test_backend_failing_twice_is_retried_and_the_scan_completes(
        self, alice: httpx.Client, backend_api: BackendApi
    ) -> None:
        backend_api.fail(2)
        before = backend_api.news_requests()

        run = scan(alice, companies=["AMGN"], news_source="backend")

        assert run["status"] == "completed", run
        assert run["result"]["insights"] == 3
        assert backend_api.news_requests() - before == 3  # two 503s, then the answer

    def test_backend_down_opens_the_breaker_dead_letters_the_run_and_requeue_recovers(
        self,
        alice: httpx.Client,
        admin: httpx.Client,
        backend_api: BackendApi,
        stack: Stack,
    ) -> None:
        backend_api.fail(None)
        before = backend_api.news_requests()

        run = scan(alice, companies=["LLY", "REGN", "MRK"], news_source="backend")

        assert run["status"] == "dead_lettered", run
        assert "news:backend" in run["error"]
        assert run["result"]["companies_failed"] == ["LLY", "REGN", "MRK"]
        # 3 attempts for LLY, 2 for REGN open the breaker (5 failures); MRK fails fast.
        assert backend_api.news_requests() - before == 5
        assert alice.get("/api/dead-letters").status_code == 403
        letters = admin.get("/api/dead-letters", params={"requeued": "false"}).json()
        assert run["run_id"] in [item["run"]["run_id"] for item in letters["items"]]

        backend_api.recover()
        time.sleep(3.5)  # the breaker's cool-down in the test stack
        first = admin.post(f"/api/dead-letters/{run['run_id']}/requeue")
        second = admin.post(f"/api/dead-letters/{run['run_id']}/requeue")
        assert first.status_code == second.status_code == 202
        assert first.json()["run_id"] == second.json()["run_id"]  # one requeue
        requeued = wait_for_run(alice, first.json()["run_id"], timeout=180)
        assert requeued["status"] == "completed", requeued
        assert requeued["rerun_of"] == run["run_id"]
        assert requeued["snapshot"] == run["snapshot"]
        letters = admin.get("/api/dead-letters", params={"requeued": "true"}).json()
        listed = {i["run"]["run_id"]: i for i in letters["items"]}
        assert listed[run["run_id"]]["requeued_as"]["run_id"] == requeued["run_id"]

    def test_requeue_of_a_run_that_is_no_dead_letter_is_404(
        self, admin: httpx.Client, alice: httpx.Client
    ) -> None:
        response = admin.post(f"/api/dead-letters/{uuid.uuid4()}/requeue")
        assert response.status_code == 404
        assert alice.post(f"/api/dead-letters/{uuid.uuid4()}/requeue").status_code == 403


class TestMaintenance:
    def test_only_admins_run_maintenance(self, alice: httpx.Client) -> None:
        response = alice.post("/api/maintenance/run", json={"task": "db_optimize"})
        assert response.status_code == 403
        assert response.json()["error"] == "Forbidden"

    def test_db_optimize_vacuums_every_table(self, admin: httpx.Client) -> None:
        response = admin.post("/api/maintenance/run", json={"task": "db_optimize"})
        assert response.status_code == 202, response.text
        run = wait_for_run(admin, response.json()["run_id"])
        assert run["status"] == "completed", run
        statements = [step["statement"] for step in run["result"]["steps"]]
        assert 'VACUUM (ANALYZE) "runs"' in statements
        assert 'REINDEX TABLE CONCURRENTLY "insights"' in statements

    def test_cleanup_archives_old_rows_and_leaves_new_ones(
        self, admin: httpx.Client, alice: httpx.Client, stack: Stack
    ) -> None:
        old_at = datetime.now(UTC) - timedelta(days=200)
        old = insert_run(
            stack, "alice", "completed", created_at=old_at, finished_at=old_at, updated_at=old_at
        )
        recent = insert_run(stack, "alice", "completed", finished_at=datetime.now(UTC))
        response = admin.post("/api/maintenance/run", json={"task": "data_cleanup"})
        run = wait_for_run(admin, response.json()["run_id"])

        assert run["status"] == "completed", run
        assert run["result"]["archived"]["runs"] >= 1
        assert alice.get(f"/api/runs/{old}").status_code == 404
        assert alice.get(f"/api/runs/{recent}").status_code == 200
        (archive,) = [p for p in run["result"]["archive_files"] if "/runs-" in p]
        assert Path(archive).is_file()
        assert Path(archive).is_relative_to(stack.workdir / "state" / "archive")


class TestTimetable:
    def test_the_seeds_timetable_is_deployed_with_its_queues(self, stack: Stack) -> None:
        async def read() -> dict[str, tuple[str, str, bool]]:
            async with PrefectClient(stack.prefect_api_url) as client:
                found = {}
                for name in (
                    "analysis/daily-analysis",
                    "analysis/quick-scan",
                    "maintenance/data-cleanup",
                    "maintenance/db-optimize",
                    "maintenance/report-archival",
                    "report/weekly-biotech",
                ):
                    deployment = await client.read_deployment_by_name(name)
                    (schedule,) = deployment.schedules
                    assert isinstance(schedule.schedule, CronSchedule)
                    found[name] = (
                        schedule.schedule.cron,
                        deployment.work_queue_name or "",
                        schedule.active,
                    )
                return found

        found = asyncio.run(read())
        assert found == {
            # The test stack pauses the timetable (FLOWDESK_TIMETABLE_ENABLED=false).
            "analysis/daily-analysis": ("0 6 * * *", "default", False),
            "analysis/quick-scan": ("0 * * * *", "high", False),
            "maintenance/data-cleanup": ("0 3 * * *", "low", False),
            "maintenance/db-optimize": ("0 2 * * 0", "low", False),
            "maintenance/report-archival": ("0 1 1 * *", "low", False),
            "report/weekly-biotech": ("0 8 * * 1", "default", False),
        }

    def test_prefect_deployment_run_records_a_system_run(
        self, admin: httpx.Client, stack: Stack
    ) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "prefect", "deployment", "run", "maintenance/db-optimize"],
            env=stack.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        flow_run_id = next(
            line.split()[-1] for line in result.stdout.splitlines() if "UUID" in line
        )
        deadline = time.monotonic() + 120
        with psycopg.connect(snapshot_dsn(stack), autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT runs.status, users.name FROM runs JOIN users ON users.id = owner_id "
                    "WHERE prefect_flow_run_id = %s",
                    (flow_run_id,),
                ).fetchone()
                if row and row[0] not in ("pending", "running"):
                    break
                time.sleep(0.3)
        assert row == ("completed", "system")


class TestWeeklyReport:
    def test_weekly_report_renders_the_desk_and_notifies(
        self, alice: httpx.Client, alert_receiver: WebhookReceiver
    ) -> None:
        before = len(alert_receiver.received)
        response = alice.post("/api/reports/run", json={"report_type": "biotech_weekly"})
        assert response.status_code == 202, response.text
        run = wait_for_run(alice, response.json()["run_id"])

        assert run["status"] == "completed", run
        names = {a["name"] for a in run["artifacts"]}
        assert {"report.md", "report.html", "data.json"} <= names
        markdown = alice.get(f"/api/runs/{run['run_id']}/artifacts/report.md").text
        assert "TEVA" in markdown  # every active company has a line
        deadline = time.monotonic() + 30
        while len(alert_receiver.received) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        (notice,) = alert_receiver.received[before:]
        assert notice["subject"].startswith("flowdesk weekly biotech report")
        assert f"/api/runs/{run['run_id']}" in notice["body"]
