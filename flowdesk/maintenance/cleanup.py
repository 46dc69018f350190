"""Data cleanup (daily, 03:00 UTC): archive what is older than the retention, then delete it.

Rows older than `data_retention_days` (90) go to gzip'd JSON lines under
``<archive_location>/records/`` *before* they are deleted, so nothing is lost: finished
runs (with their snapshots, their artifact directories tarred alongside), insights, the
alerts they raised, and risk scores except each company's latest (the current score).
Then temporary files left by interrupted writes are removed, and orphans: artifact
directories of runs that do not exist, scan marks of companies no longer configured.

Writing the archive first and committing the deletes after means a crash in between
archives some rows twice, never zero times.
"""

from __future__ import annotations

import tarfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.desk import Alert, CompanyScan, Insight, RiskScore
from flowdesk.db.models import TERMINAL_STATUSES, Run
from flowdesk.maintenance.archive import row_dict, write_jsonl_gz

# A temporary file this old is left over from a write that died, not one in progress.
TEMP_FILE_AGE_SECONDS = 3600
BATCH = 500


@dataclass
class CleanupReport:
    """What one cleanup archived and removed."""

    cutoff: datetime
    archived: dict[str, int] = field(default_factory=dict)
    archive_files: list[str] = field(default_factory=list)
    temp_files_removed: int = 0
    orphan_artifact_dirs: int = 0
    orphan_company_scans: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "archived": self.archived,
            "archive_files": self.archive_files,
            "temp_files_removed": self.temp_files_removed,
            "orphan_artifact_dirs": self.orphan_artifact_dirs,
            "orphan_company_scans": self.orphan_company_scans,
        }


async def cleanup(
    session: AsyncSession,
    *,
    cutoff: datetime,
    archive_dir: Path,
    artifacts_dir: Path,
    company_ids: Sequence[str],
    stamp: str,
) -> CleanupReport:
    """Archive and delete everything older than `cutoff`; remove temp files and orphans."""
    report = CleanupReport(cutoff=cutoff)
    records = archive_dir / "records"
    old_insights = Insight.created_at < cutoff
    alerts_of_old = Alert.insight_id.in_(select(Insight.id).where(old_insights))
    await _archive(
        session, report, records, stamp, Alert, (Alert.created_at < cutoff) | alerts_of_old
    )
    await _archive(session, report, records, stamp, Insight, old_insights)
    latest = (
        select(RiskScore.company_id, func.max(RiskScore.computed_at).label("at"))
        .group_by(RiskScore.company_id)
        .subquery()
    )
    current = select(RiskScore.id).join(
        latest,
        (RiskScore.company_id == latest.c.company_id) & (RiskScore.computed_at == latest.c.at),
    )
    await _archive(
        session,
        report,
        records,
        stamp,
        RiskScore,
        (RiskScore.computed_at < cutoff) & RiskScore.id.not_in(current),
    )
    run_ids = await _archive(
        session,
        report,
        records,
        stamp,
        Run,
        Run.status.in_(TERMINAL_STATUSES)
        & (func.coalesce(Run.finished_at, Run.created_at) < cutoff),
        before_delete=_unlink_runs,
    )
    for run_id in run_ids:
        if _tar_away(artifacts_dir / str(run_id), archive_dir / "artifacts" / f"{run_id}.tar.gz"):
            report.archived["artifact_dirs"] = report.archived.get("artifact_dirs", 0) + 1
    report.temp_files_removed = _remove_temp_files(artifacts_dir)
    report.orphan_artifact_dirs = await _orphan_artifact_dirs(session, artifacts_dir, archive_dir)
    result = await session.execute(
        delete(CompanyScan).where(CompanyScan.company_id.not_in(list(company_ids)))
    )
    report.orphan_company_scans = int(result.rowcount)  # type: ignore[attr-defined]
    return report


async def _archive(
    session: AsyncSession,
    report: CleanupReport,
    records: Path,
    stamp: str,
    model: Any,
    where: ColumnElement[bool],
    before_delete: Any = None,
) -> list[Any]:
    """Archive then delete every row of `model` matching `where`, in batches; their ids."""
    table = model.__tablename__
    path = records / f"{table}-{stamp}.jsonl.gz"
    ids: list[Any] = []
    while True:
        rows = list((await session.execute(select(model).where(where).limit(BATCH))).scalars())
        if not rows:
            break
        write_jsonl_gz(path, (row_dict(row) for row in rows))
        batch = [row.id for row in rows]
        if before_delete is not None:
            await before_delete(session, batch)
        await session.execute(delete(model).where(model.id.in_(batch)))
        ids.extend(batch)
    if ids:
        report.archived[table] = len(ids)
        report.archive_files.append(str(path))
    return ids


async def _unlink_runs(session: AsyncSession, run_ids: list[uuid.UUID]) -> None:
    # ON DELETE SET NULL by hand: SQLite enforces no foreign keys unless asked to.
    for model in (Insight, Alert, RiskScore):
        await session.execute(update(model).where(model.run_id.in_(run_ids)).values(run_id=None))
    await session.execute(
        update(CompanyScan).where(CompanyScan.last_run_id.in_(run_ids)).values(last_run_id=None)
    )


def _tar_away(directory: Path, target: Path) -> bool:
    """Move a directory into a .tar.gz; False if there was no such directory."""
    if not directory.is_dir():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    for path in sorted(directory.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    directory.rmdir()
    return True


def _remove_temp_files(artifacts_dir: Path) -> int:
    # write_artifact writes ".<name>.tmp" then renames it; one left behind is debris.
    if not artifacts_dir.is_dir():
        return 0
    old = time.time() - TEMP_FILE_AGE_SECONDS
    removed = 0
    for path in artifacts_dir.glob("*/.*.tmp"):
        if path.stat().st_mtime < old:
            path.unlink()
            removed += 1
    return removed


async def _orphan_artifact_dirs(
    session: AsyncSession, artifacts_dir: Path, archive_dir: Path
) -> int:
    """Artifact directories with no run row (and quiet for an hour) go to the archive."""
    if not artifacts_dir.is_dir():
        return 0
    old = time.time() - TEMP_FILE_AGE_SECONDS
    candidates: dict[uuid.UUID, Path] = {}
    for path in artifacts_dir.iterdir():
        try:
            run_id = uuid.UUID(path.name)
        except ValueError:
            continue
        if path.is_dir() and path.stat().st_mtime < old:
            candidates[run_id] = path
    if not candidates:
        return 0
    known = set(
        (await session.execute(select(Run.id).where(Run.id.in_(list(candidates))))).scalars()
    )
    moved = 0
    for run_id, path in candidates.items():
        if run_id not in known and _tar_away(path, archive_dir / "orphans" / f"{run_id}.tar.gz"):
            moved += 1
    return moved
