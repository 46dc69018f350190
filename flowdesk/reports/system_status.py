"""The ``system_status`` report: the gathered facts, a health verdict, and its renderings.

The verdict is the worst one that any rule gives, and every rule that fires adds a reason:

- **down**: the Prefect API did not answer; nothing can be scheduled or started.
- **degraded**, checked only when Prefect answered (otherwise there is no pool data):
  there is no work pool; a pool is paused; a pool has no ONLINE worker; a queue is
  paused; a queue has late runs.
- **degraded**: under 90 % of the runs that finished in the window completed
  (``success_rate``: completed / (completed + failed + crashed); cancelled runs are a
  user's choice, not a failure, and pending or running ones have not finished).
- **healthy** otherwise.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import markdown
from pydantic import BaseModel, ConfigDict

Verdict = Literal["healthy", "degraded", "down"]

COMPLETED = "completed"
FAILURE_STATUSES = frozenset({"failed", "crashed"})
MIN_SUCCESS_RATE = 0.9
# Runs-table columns in lifecycle order; statuses not listed here follow alphabetically.
STATUS_ORDER = ("pending", "running", "completed", "failed", "crashed", "cancelled")
# An error cell longer than this is cut: the full text stays in the JSON rendering.
ERROR_CELL_CHARS = 200


class _Gathered(BaseModel):
    # The gatherer is written elsewhere: a misspelt field should fail, not vanish.
    model_config = ConfigDict(extra="forbid")


class RunCount(_Gathered):
    status: str
    job_type: str
    count: int


class QueueHealth(_Gathered):
    name: str
    priority: int
    is_paused: bool
    late_runs: int
    status: str | None


class WorkerHealth(_Gathered):
    name: str
    status: str
    last_heartbeat: datetime | None


class PoolHealth(_Gathered):
    name: str
    type: str
    status: str | None
    is_paused: bool
    queues: list[QueueHealth]
    workers: list[WorkerHealth]

    @property
    def online_workers(self) -> int:
        return sum(1 for worker in self.workers if worker.status.upper() == "ONLINE")


class FailedRun(_Gathered):
    run_id: str
    job_type: str
    target: str | None
    status: str
    finished_at: datetime | None
    error: str | None


class DatabaseInfo(_Gathered):
    backend: Literal["postgresql", "sqlite"]
    size_bytes: int | None
    runs_total: int


class SystemStatus(_Gathered):
    """Everything the report shows, gathered from the database and the Prefect API."""

    generated_at: datetime
    window_hours: int
    window_start: datetime
    run_counts: list[RunCount]
    pools: list[PoolHealth]
    prefect_api: str
    prefect_reachable: bool
    prefect_error: str | None
    database: DatabaseInfo
    recent_failures: list[FailedRun]
    include_details: bool


class Health(BaseModel):
    """The verdict and the reasons for it, worst first."""

    verdict: Verdict
    reasons: list[str]


def _status_key(status: str) -> tuple[int, str]:
    lowered = status.lower()
    rank = STATUS_ORDER.index(lowered) if lowered in STATUS_ORDER else len(STATUS_ORDER)
    return rank, lowered


def totals_by_status(status: SystemStatus) -> dict[str, int]:
    """Runs in the window per status, in lifecycle order."""
    totals: Counter[str] = Counter()
    for row in status.run_counts:
        totals[row.status] += row.count
    return {name: totals[name] for name in sorted(totals, key=_status_key)}


def totals_by_job_type(status: SystemStatus) -> dict[str, int]:
    """Runs in the window per job type, alphabetically."""
    totals: Counter[str] = Counter()
    for row in status.run_counts:
        totals[row.job_type] += row.count
    return dict(sorted(totals.items()))


def total_runs(status: SystemStatus) -> int:
    """Runs in the window, all statuses."""
    return sum(row.count for row in status.run_counts)


def failed_runs(status: SystemStatus) -> int:
    """Runs in the window that failed or crashed."""
    return sum(row.count for row in status.run_counts if row.status.lower() in FAILURE_STATUSES)


def success_rate(status: SystemStatus) -> float | None:
    """Completed / finished runs in the window, or None when none finished."""
    completed = sum(row.count for row in status.run_counts if row.status.lower() == COMPLETED)
    finished = completed + failed_runs(status)
    return completed / finished if finished else None


def _pool_problems(pools: Sequence[PoolHealth]) -> list[str]:
    problems = [] if pools else ["no work pool exists, so no run can start"]
    for pool in pools:
        if pool.is_paused:
            problems.append(f"work pool {pool.name!r} is paused")
        if pool.online_workers == 0:
            problems.append(f"work pool {pool.name!r} has no online worker")
        for queue in pool.queues:
            if queue.is_paused:
                problems.append(f"queue {queue.name!r} of pool {pool.name!r} is paused")
            if queue.late_runs > 0:
                problems.append(
                    f"queue {queue.name!r} of pool {pool.name!r} has {queue.late_runs} late run(s)"
                )
    return problems


def assess(status: SystemStatus) -> Health:
    """Apply the rules in the module docstring."""
    down: list[str] = []
    degraded: list[str] = []
    if status.prefect_reachable:
        degraded += _pool_problems(status.pools)
    else:
        detail = f": {status.prefect_error}" if status.prefect_error else ""
        down.append(f"Prefect API at {status.prefect_api} is unreachable{detail}")
    rate = success_rate(status)
    if rate is not None and rate < MIN_SUCCESS_RATE:
        degraded.append(
            f"success rate {rate:.1%} in the last {status.window_hours} h "
            f"is below {MIN_SUCCESS_RATE:.0%}"
        )
    verdict: Verdict = "down" if down else "degraded" if degraded else "healthy"
    return Health(verdict=verdict, reasons=down + degraded)


def human_size(size_bytes: int | None) -> str:
    """A byte count in binary units: ``1.5 GiB``."""
    if size_bytes is None:
        return "unknown"
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, unit = float(size_bytes), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size_bytes} B" if unit == 0 else f"{size:.1f} {units[unit]}"


# Markdown that Python-Markdown (and GitHub) would act on inside a table cell or list item.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]|]")


def _text(value: object | None, limit: int | None = None) -> str:
    """User text made inert: one line, HTML-escaped once, markdown punctuation backslashed."""
    if value is None:
        return "—"
    text = " ⏎ ".join(line.strip() for line in str(value).splitlines() if line.strip())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MARKDOWN_SPECIAL.sub(r"\\\g<0>", html.escape(text, quote=False))


def _error_excerpt(error: str | None) -> str | None:
    # A traceback's last line names the exception; its first line only says "Traceback".
    if error is None:
        return None
    lines = [line for line in error.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Traceback"):
        return lines[-1]
    return error


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _runs_section(status: SystemStatus) -> list[str]:
    lines = [f"## Runs in the last {status.window_hours} h", ""]
    if not status.run_counts:
        return lines + ["No runs in the window.", ""]
    by_status, by_job = totals_by_status(status), totals_by_job_type(status)
    cells: Counter[tuple[str, str]] = Counter()
    for row in status.run_counts:
        cells[row.job_type, row.status] += row.count
    rows = [
        [_text(job), *(f"{cells[job, name]:,}" for name in by_status), f"{total:,}"]
        for job, total in by_job.items()
    ]
    rows.append(
        ["**Total**", *(f"{n:,}" for n in by_status.values()), f"**{total_runs(status):,}**"]
    )
    lines += _table(["Job type", *map(_text, by_status), "Total"], rows)
    rate = success_rate(status)
    shown = "n/a (no run finished)" if rate is None else f"{rate:.1%}"
    return lines + [f"Success rate: **{shown}** (completed / finished; cancelled not counted).", ""]


def _pools_section(status: SystemStatus) -> list[str]:
    lines = ["## Work pools", ""]
    if not status.prefect_reachable:
        return lines + ["Not available: the Prefect API did not answer.", ""]
    if not status.pools:
        return lines + ["No work pools.", ""]
    yes_no = {True: "yes", False: "no"}
    lines += _table(
        ["Pool", "Type", "Status", "Paused", "Workers online", "Late runs"],
        [
            [
                _text(p.name),
                _text(p.type),
                _text(p.status),
                yes_no[p.is_paused],
                f"{p.online_workers} of {len(p.workers)}",
                str(sum(q.late_runs for q in p.queues)),
            ]
            for p in status.pools
        ],
    )
    queues = [(p, q) for p in status.pools for q in sorted(p.queues, key=lambda q: q.priority)]
    if queues:
        lines += ["### Queues", ""] + _table(
            ["Pool", "Queue", "Priority", "Status", "Paused", "Late runs"],
            [
                [
                    _text(p.name),
                    _text(q.name),
                    str(q.priority),
                    _text(q.status),
                    yes_no[q.is_paused],
                    str(q.late_runs),
                ]
                for p, q in queues
            ],
        )
    workers = [(p, w) for p in status.pools for w in p.workers]
    if workers:
        lines += ["### Workers", ""] + _table(
            ["Pool", "Worker", "Status", "Last heartbeat"],
            [
                [_text(p.name), _text(w.name), _text(w.status), _when(w.last_heartbeat)]
                for p, w in workers
            ],
        )
    return lines


def _failures_section(status: SystemStatus) -> list[str]:
    lines = ["## Recent failures", ""]
    if not status.recent_failures:
        return lines + ["No failed runs in the window.", ""]
    return lines + _table(
        ["Finished", "Run", "Job type", "Target", "Status", "Error"],
        [
            [
                _when(f.finished_at),
                _text(f.run_id),
                _text(f.job_type),
                _text(f.target),
                _text(f.status),
                _text(_error_excerpt(f.error), ERROR_CELL_CHARS),
            ]
            for f in status.recent_failures
        ],
    )


def render_markdown(status: SystemStatus) -> str:
    """The report as markdown: verdict, runs, pools, database, failures, footer."""
    health = assess(status)
    lines = [f"# System status: {health.verdict.upper()}", ""]
    lines += [f"- {_text(reason)}" for reason in health.reasons] or ["All checks passed."]
    reachable = "reachable" if status.prefect_reachable else "unreachable"
    lines += ["", f"Prefect API: {_text(status.prefect_api)} ({reachable})", ""]
    lines += _runs_section(status) + _pools_section(status)
    db = status.database
    backend = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}[db.backend]
    lines += [
        "## Database",
        "",
        f"{backend}, {human_size(db.size_bytes)}, {db.runs_total:,} runs in total.",
        "",
    ]
    if status.include_details:
        lines += _failures_section(status)
    lines += [
        "---",
        "",
        f"Generated {_when(status.generated_at)} for the last "
        f"{status.window_hours} h (since {_when(status.window_start)}).",
    ]
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}table{border-collapse:collapse;margin:0 0 1rem}th,td{border:1px solid #ccc;"
    "padding:.25rem .6rem;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "hr{border:0;border-top:1px solid #ccc}"
)


def render_html(status: SystemStatus) -> str:
    """The markdown rendering as a standalone HTML page."""
    converter = markdown.Markdown(extensions=["tables"])
    # User text is already escaped by render_markdown; refusing raw HTML as well means a
    # missed escape shows up as text on the page, never as markup or script.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = converter.convert(render_markdown(status))
    title = f"System status: {assess(status).verdict} — flowdesk report"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def to_json(status: SystemStatus) -> dict[str, Any]:
    """The gathered facts plus the computed totals and verdict, JSON-safe."""
    health = assess(status)
    data = status.model_dump(mode="json")
    if not status.include_details:
        data["recent_failures"] = []
    data.update(
        verdict=health.verdict,
        reasons=health.reasons,
        success_rate=success_rate(status),
        totals={
            "runs": total_runs(status),
            "failed": failed_runs(status),
            "by_status": totals_by_status(status),
            "by_job_type": totals_by_job_type(status),
        },
    )
    return data


def summary(status: SystemStatus) -> dict[str, Any]:
    """The short result summary the API shows for a finished run."""
    health = assess(status)
    rate = success_rate(status)
    return {
        "verdict": health.verdict,
        "reasons": health.reasons,
        "runs_in_window": total_runs(status),
        "success_rate": None if rate is None else round(rate, 4),
        "failures": failed_runs(status),
        "database_size_bytes": status.database.size_bytes,
    }
