"""Data cleanup, database optimisation and report archival on seeded rows and files,
on SQLite and Postgres: old things are archived and removed, nothing newer is touched."""

from __future__ import annotations

import asyncio
import os
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flowdesk.db.desk import Alert, CompanyScan, Insight, RiskScore
from flowdesk.db.engine import make_engine, session_scope
from flowdesk.db.migrate import upgrade
from flowdesk.db.models import SYSTEM_USER_ID, JobType, Run, RunStatus
from flowdesk.maintenance.archive import read_jsonl_gz
from flowdesk.maintenance.cleanup import cleanup
from flowdesk.maintenance.optimize import flowdesk_tables, optimize
from flowdesk.maintenance.reports_archival import archive_reports

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=90)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=10)
HOUR_AGO = time.time() - 2 * 3600


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[AsyncEngine]:
    upgrade(fresh_database_url)
    made = make_engine(fresh_database_url, pooled=False)
    yield made
    asyncio.run(made.dispose())


def run_row(
    *, status: RunStatus, at: datetime, job_type: JobType = JobType.SCREENER, **extra: Any
) -> Run:
    finished = at if status.is_terminal else None
    return Run(
        id=uuid.uuid4(),
        owner_id=SYSTEM_USER_ID,
        job_type=job_type,
        target="tech_majors",
        status=status,
        snapshot={"seeded": True},
        artifacts=[],
        created_at=at,
        started_at=at,
        finished_at=finished,
        **extra,
    )


def insight_row(company: str, at: datetime, run_id: uuid.UUID | None = None) -> Insight:
    return Insight(
        id=uuid.uuid4(),
        run_id=run_id,
        company_id=company,
        fingerprint=uuid.uuid4().hex,
        source="sample",
        title=f"{company} news of {at:%Y-%m-%d}",
        published_at=at,
        event_type="other",
        sentiment=0.0,
        materiality=0.1,
        evidence=[],
        created_at=at,
    )


def risk_row(company: str, at: datetime, score: float) -> RiskScore:
    return RiskScore(id=uuid.uuid4(), company_id=company, score=score, computed_at=at)


@dataclass
class Seeded:
    old_run: Run
    new_run: Run
    old_open_run: Run
    old_insight: Insight
    new_insight: Insight
    old_alert: Alert
    gild_old_risk: RiskScore
    gild_new_risk: RiskScore
    mrna_only_risk: RiskScore


async def seed(engine: AsyncEngine) -> Seeded:
    old_run = run_row(status=RunStatus.COMPLETED, at=OLD)
    new_run = run_row(status=RunStatus.COMPLETED, at=RECENT)
    # Old but still running (a stuck run): not finished, so not archived.
    old_open_run = run_row(status=RunStatus.RUNNING, at=OLD)
    old_insight = insight_row("GILD", OLD, run_id=old_run.id)
    new_insight = insight_row("GILD", RECENT, run_id=old_run.id)
    old_alert = Alert(
        id=uuid.uuid4(),
        insight_id=old_insight.id,
        company_id="GILD",
        severity="critical",
        title=old_insight.title,
        deliveries=[],
        created_at=OLD,
    )
    seeded = Seeded(
        old_run=old_run,
        new_run=new_run,
        old_open_run=old_open_run,
        old_insight=old_insight,
        new_insight=new_insight,
        old_alert=old_alert,
        gild_old_risk=risk_row("GILD", OLD, 40.0),
        gild_new_risk=risk_row("GILD", RECENT, 55.0),
        # MRNA's only score is old: it is the current score, and stays.
        mrna_only_risk=risk_row("MRNA", OLD, 61.0),
    )
    async with session_scope(engine) as session:
        session.add_all([old_run, new_run, old_open_run])
        await session.flush()
        session.add_all([old_insight, new_insight])
        await session.flush()
        session.add_all([old_alert, seeded.gild_old_risk, seeded.gild_new_risk])
        session.add(seeded.mrna_only_risk)
        session.add(CompanyScan(company_id="GILD", last_scanned_at=RECENT, last_run_id=old_run.id))
        session.add(CompanyScan(company_id="GONE", last_scanned_at=RECENT))
    return seeded


def aged(path: Path, epoch: float = HOUR_AGO) -> Path:
    os.utime(path, (epoch, epoch))
    return path


class TestDataCleanup:
    def test_archives_what_is_older_than_the_cutoff_and_nothing_newer(
        self, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        seeded = asyncio.run(seed(engine))
        artifacts, archive = tmp_path / "artifacts", tmp_path / "archive"
        old_dir = artifacts / str(seeded.old_run.id)
        old_dir.mkdir(parents=True)
        (old_dir / "results.csv").write_text("ticker,score\nAAPL,1\n")
        new_dir = artifacts / str(seeded.new_run.id)
        new_dir.mkdir()
        (new_dir / "results.csv").write_text("ticker,score\nMSFT,2\n")
        stale_tmp = new_dir / ".results.csv.tmp"
        stale_tmp.write_text("half")
        aged(stale_tmp)
        fresh_tmp = new_dir / ".summary.json.tmp"
        fresh_tmp.write_text("{")
        orphan = artifacts / str(uuid.uuid4())
        orphan.mkdir()
        (orphan / "report.md").write_text("# nobody's")
        aged(orphan)
        young_orphan = artifacts / str(uuid.uuid4())  # a run being created right now
        young_orphan.mkdir()

        async def go() -> Any:
            async with session_scope(engine) as session:
                return await cleanup(
                    session,
                    cutoff=CUTOFF,
                    archive_dir=archive,
                    artifacts_dir=artifacts,
                    company_ids=["GILD", "MRNA"],
                    stamp="test",
                )

        report = asyncio.run(go())

        assert report.archived == {
            "alerts": 1,
            "insights": 1,
            "risk_scores": 1,
            "runs": 1,
            "artifact_dirs": 1,
        }
        records = archive / "records"
        assert [r["id"] for r in read_jsonl_gz(records / "runs-test.jsonl.gz")] == [
            str(seeded.old_run.id)
        ]
        assert read_jsonl_gz(records / "runs-test.jsonl.gz")[0]["snapshot"] == {"seeded": True}
        assert [r["id"] for r in read_jsonl_gz(records / "insights-test.jsonl.gz")] == [
            str(seeded.old_insight.id)
        ]
        assert [r["id"] for r in read_jsonl_gz(records / "alerts-test.jsonl.gz")] == [
            str(seeded.old_alert.id)
        ]
        assert [r["id"] for r in read_jsonl_gz(records / "risk_scores-test.jsonl.gz")] == [
            str(seeded.gild_old_risk.id)
        ]

        async def remaining() -> dict[str, set[uuid.UUID] | set[str]]:
            async with session_scope(engine) as session:
                return {
                    "runs": set((await session.execute(select(Run.id))).scalars()),
                    "insights": set((await session.execute(select(Insight.id))).scalars()),
                    "alerts": set((await session.execute(select(Alert.id))).scalars()),
                    "risk": set((await session.execute(select(RiskScore.id))).scalars()),
                    "scans": set((await session.execute(select(CompanyScan.company_id))).scalars()),
                }

        left = asyncio.run(remaining())
        assert left["runs"] == {seeded.new_run.id, seeded.old_open_run.id}
        assert left["insights"] == {seeded.new_insight.id}
        assert left["alerts"] == set()
        assert left["risk"] == {seeded.gild_new_risk.id, seeded.mrna_only_risk.id}
        assert left["scans"] == {"GILD"}
        assert report.orphan_company_scans == 1

        # Files: the old run's artifacts are tarred into the archive; the new run's stay.
        assert not old_dir.exists()
        with tarfile.open(archive / "artifacts" / f"{seeded.old_run.id}.tar.gz") as tar:
            assert f"{seeded.old_run.id}/results.csv" in tar.getnames()
        assert (new_dir / "results.csv").read_text() == "ticker,score\nMSFT,2\n"
        assert report.temp_files_removed == 1
        assert not stale_tmp.exists()
        assert fresh_tmp.exists()
        assert report.orphan_artifact_dirs == 1
        assert not orphan.exists()
        assert young_orphan.exists()
        assert (archive / "orphans" / f"{orphan.name}.tar.gz").is_file()

    def test_a_second_cleanup_finds_nothing(self, engine: AsyncEngine, tmp_path: Path) -> None:
        asyncio.run(seed(engine))

        async def go() -> Any:
            async with session_scope(engine) as session:
                return await cleanup(
                    session,
                    cutoff=CUTOFF,
                    archive_dir=tmp_path / "archive",
                    artifacts_dir=tmp_path / "artifacts",
                    company_ids=["GILD", "MRNA", "GONE"],
                    stamp="again",
                )

        first, second = asyncio.run(go()), asyncio.run(go())
        assert first.archived["runs"] == 1
        assert second.archived == {}
        assert second.archive_files == []


class TestOptimize:
    def test_runs_the_backends_statements_on_every_table(self, engine: AsyncEngine) -> None:
        asyncio.run(seed(engine))
        report = asyncio.run(optimize(engine))
        statements = [step["statement"] for step in report.steps]
        if report.backend == "postgresql":
            for table in ("runs", "insights", "risk_scores", "metric_samples"):
                assert f'VACUUM (ANALYZE) "{table}"' in statements
                assert f'REINDEX TABLE CONCURRENTLY "{table}"' in statements
            assert len(statements) == 2 * len(flowdesk_tables())
        else:
            assert statements == ["ANALYZE", "REINDEX", "VACUUM"]
        assert report.size_before_bytes
        assert report.size_after_bytes
        assert all(step["seconds"] >= 0 for step in report.steps)


class TestReportArchival:
    def test_compresses_old_report_artifacts_and_records_where(
        self, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        artifacts, archive = tmp_path / "artifacts", tmp_path / "archive"
        listed = [{"name": "report.md", "media_type": "text/markdown", "size_bytes": 9}]
        old = run_row(
            status=RunStatus.COMPLETED, at=NOW - timedelta(days=40), job_type=JobType.REPORT
        )
        new = run_row(
            status=RunStatus.COMPLETED, at=NOW - timedelta(days=5), job_type=JobType.REPORT
        )
        old_screener = run_row(status=RunStatus.COMPLETED, at=NOW - timedelta(days=40))
        for run in (old, new, old_screener):
            run.artifacts = listed
            directory = artifacts / str(run.id)
            directory.mkdir(parents=True)
            (directory / "report.md").write_text("# weekly\n")

        async def go() -> Any:
            async with session_scope(engine) as session:
                session.add_all([old, new, old_screener])
            async with session_scope(engine) as session:
                return await archive_reports(
                    session,
                    cutoff=NOW - timedelta(days=30),
                    artifacts_dir=artifacts,
                    archive_dir=archive,
                )

        report = asyncio.run(go())

        assert report.runs == [str(old.id)]
        target = (
            archive / "reports" / (NOW - timedelta(days=40)).strftime("%Y-%m") / f"{old.id}.tar.gz"
        )
        assert report.archives == [str(target)]
        with tarfile.open(target) as tar:
            member = tar.extractfile(f"{old.id}/report.md")
            assert member is not None
            assert member.read() == b"# weekly\n"
        assert not (artifacts / str(old.id)).exists()
        assert (artifacts / str(new.id) / "report.md").is_file()
        assert (artifacts / str(old_screener.id) / "report.md").is_file()

        async def artifacts_of(run_id: uuid.UUID) -> list[dict[str, Any]]:
            async with session_scope(engine) as session:
                row = await session.get(Run, run_id)
                assert row is not None
                return row.artifacts

        assert asyncio.run(artifacts_of(old.id))[0]["archived_to"] == str(target)
        assert "archived_to" not in asyncio.run(artifacts_of(new.id))[0]
