"""Report archival (the 1st of each month, 01:00 UTC): old report artifacts to cold storage.

Every finished report run older than `report_archive_days` (30) that still has artifact
files gets them compressed into ``<archive_location>/reports/<YYYY-MM>/<run_id>.tar.gz``;
the originals are removed and the run's artifact entries say where they went, so the
download endpoint answers 410 Gone with that place instead of a bare 404.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import TERMINAL_STATUSES, JobType, Run


@dataclass
class ArchivalReport:
    cutoff: datetime
    runs: list[str] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "runs_archived": len(self.runs),
            "archives": self.archives,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


async def archive_reports(
    session: AsyncSession, *, cutoff: datetime, artifacts_dir: Path, archive_dir: Path
) -> ArchivalReport:
    """Compress the artifacts of report runs finished before `cutoff`; record where."""
    report = ArchivalReport(cutoff=cutoff)
    finished = func.coalesce(Run.finished_at, Run.created_at)
    runs = (
        await session.execute(
            select(Run).where(
                Run.job_type == JobType.REPORT,
                Run.status.in_(TERMINAL_STATUSES),
                finished < cutoff,
            )
        )
    ).scalars()
    for run in runs:
        directory = artifacts_dir / str(run.id)
        files = [p for p in directory.iterdir() if p.is_file()] if directory.is_dir() else []
        if not files:
            continue
        when = run.finished_at or run.created_at
        target = archive_dir / "reports" / when.strftime("%Y-%m") / f"{run.id}.tar.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(target, "w:gz") as tar:
            for path in files:
                tar.add(path, arcname=f"{run.id}/{path.name}")
        report.bytes_before += sum(p.stat().st_size for p in files)
        report.bytes_after += target.stat().st_size
        for path in files:
            path.unlink()
        if not any(directory.iterdir()):
            directory.rmdir()
        run.artifacts = [{**a, "archived_to": str(target)} for a in run.artifacts or []]
        report.runs.append(str(run.id))
        report.archives.append(str(target))
    return report
