"""Tests for the system_status report: verdict rules, totals and renderings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowdesk.reports.system_status import (
    DatabaseInfo,
    FailedRun,
    PoolHealth,
    QueueHealth,
    RunCount,
    SystemStatus,
    WorkerHealth,
    assess,
    human_size,
    render_html,
    render_markdown,
    success_rate,
    summary,
    to_json,
    totals_by_job_type,
    totals_by_status,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
NASTY_ERROR = (
    "Traceback (most recent call last):\n  boom | here\nValueError: <script>alert(1)</script> | x"
)


def queue(name: str = "default", **changes: Any) -> QueueHealth:
    fields: dict[str, Any] = {
        "name": name,
        "priority": 10,
        "is_paused": False,
        "late_runs": 0,
        "status": "READY",
    }
    return QueueHealth(**(fields | changes))


def worker(name: str = "worker-1", status: str = "ONLINE") -> WorkerHealth:
    return WorkerHealth(name=name, status=status, last_heartbeat=NOW - timedelta(seconds=20))


def pool(name: str = "flowdesk", **changes: Any) -> PoolHealth:
    fields: dict[str, Any] = {
        "name": name,
        "type": "process",
        "status": "READY",
        "is_paused": False,
        "queues": [queue()],
        "workers": [worker()],
    }
    return PoolHealth(**(fields | changes))


def failure(error: str | None = "ValueError: bad ticker", **changes: Any) -> FailedRun:
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "job_type": "screener",
        "target": "value-set",
        "status": "failed",
        "finished_at": NOW - timedelta(hours=1),
        "error": error,
    }
    return FailedRun(**(fields | changes))


def system_status(**changes: Any) -> SystemStatus:
    fields: dict[str, Any] = {
        "generated_at": NOW,
        "window_hours": 24,
        "window_start": NOW - timedelta(hours=24),
        "run_counts": [
            RunCount(status="completed", job_type="screener", count=95),
            RunCount(status="completed", job_type="report", count=3),
            RunCount(status="failed", job_type="screener", count=1),
            RunCount(status="cancelled", job_type="report", count=4),
            RunCount(status="pending", job_type="screener", count=2),
        ],
        "pools": [pool()],
        "prefect_api": "http://127.0.0.1:4200/api",
        "prefect_reachable": True,
        "prefect_error": None,
        "database": DatabaseInfo(
            backend="postgresql", size_bytes=3 * 1024**3 // 2, runs_total=12345
        ),
        "recent_failures": [failure()],
        "include_details": True,
    }
    return SystemStatus(**(fields | changes))


def table_rows(markdown_text: str, header_start: str) -> list[str]:
    """The lines of the markdown table whose header starts with ``header_start``."""
    lines = markdown_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cell_count(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row)) - 2


class TestTotals:
    def test_totals_by_status_follow_the_lifecycle(self) -> None:
        assert totals_by_status(system_status()) == {
            "pending": 2,
            "completed": 98,
            "failed": 1,
            "cancelled": 4,
        }
        assert list(totals_by_status(system_status())) == [
            "pending",
            "completed",
            "failed",
            "cancelled",
        ]

    def test_totals_by_job_type(self) -> None:
        assert totals_by_job_type(system_status()) == {"report": 7, "screener": 98}


class TestSuccessRate:
    def test_completed_over_finished_ignoring_cancelled_and_pending(self) -> None:
        assert success_rate(system_status()) == pytest.approx(98 / 99)

    def test_crashed_counts_as_a_failure(self) -> None:
        counts = [
            RunCount(status="completed", job_type="report", count=1),
            RunCount(status="crashed", job_type="report", count=1),
        ]

        assert success_rate(system_status(run_counts=counts)) == 0.5

    def test_no_finished_run_is_none(self) -> None:
        counts = [RunCount(status="running", job_type="report", count=3)]

        assert success_rate(system_status(run_counts=counts)) is None
        assert success_rate(system_status(run_counts=[])) is None


class TestAssess:
    def test_everything_fine_is_healthy(self) -> None:
        health = assess(system_status())

        assert (health.verdict, health.reasons) == ("healthy", [])

    def test_prefect_unreachable_is_down_and_skips_pool_rules(self) -> None:
        health = assess(
            system_status(prefect_reachable=False, prefect_error="connection refused", pools=[])
        )

        assert health.verdict == "down"
        assert health.reasons == [
            "Prefect API at http://127.0.0.1:4200/api is unreachable: connection refused"
        ]

    def test_down_still_lists_a_low_success_rate(self) -> None:
        counts = [RunCount(status="failed", job_type="report", count=1)]
        health = assess(system_status(prefect_reachable=False, pools=[], run_counts=counts))

        assert health.verdict == "down"
        assert len(health.reasons) == 2

    def test_paused_pool_is_degraded(self) -> None:
        health = assess(system_status(pools=[pool(is_paused=True)]))

        assert health.verdict == "degraded"
        assert health.reasons == ["work pool 'flowdesk' is paused"]

    def test_pool_without_online_worker_is_degraded(self) -> None:
        health = assess(system_status(pools=[pool(workers=[worker(status="OFFLINE")])]))

        assert health.verdict == "degraded"
        assert health.reasons == ["work pool 'flowdesk' has no online worker"]

    def test_late_runs_are_degraded(self) -> None:
        health = assess(system_status(pools=[pool(queues=[queue("interactive", late_runs=3)])]))

        assert health.verdict == "degraded"
        assert health.reasons == ["queue 'interactive' of pool 'flowdesk' has 3 late run(s)"]

    def test_paused_queue_is_degraded(self) -> None:
        health = assess(system_status(pools=[pool(queues=[queue(is_paused=True)])]))

        assert health.verdict == "degraded"

    def test_no_pool_is_degraded(self) -> None:
        assert assess(system_status(pools=[])).verdict == "degraded"

    def test_success_rate_below_ninety_percent_is_degraded(self) -> None:
        counts = [
            RunCount(status="completed", job_type="report", count=89),
            RunCount(status="failed", job_type="report", count=11),
        ]
        health = assess(system_status(run_counts=counts))

        assert health.verdict == "degraded"
        assert health.reasons == ["success rate 89.0% in the last 24 h is below 90%"]

    def test_success_rate_of_exactly_ninety_percent_is_healthy(self) -> None:
        counts = [
            RunCount(status="completed", job_type="report", count=9),
            RunCount(status="failed", job_type="report", count=1),
        ]

        assert assess(system_status(run_counts=counts)).verdict == "healthy"


class TestHumanSize:
    @pytest.mark.parametrize(
        ("size", "shown"),
        [
            (None, "unknown"),
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (3 * 1024**3 // 2, "1.5 GiB"),
        ],
    )
    def test_binary_units(self, size: int | None, shown: str) -> None:
        assert human_size(size) == shown


class TestRenderMarkdown:
    def test_headline_and_reasons(self) -> None:
        text = render_markdown(system_status(pools=[pool(is_paused=True)]))

        assert text.startswith("# System status: DEGRADED\n")
        assert "- work pool 'flowdesk' is paused" in text

    def test_healthy_says_all_checks_passed(self) -> None:
        assert "All checks passed." in render_markdown(system_status())

    def test_runs_table_by_job_type_and_status_with_totals(self) -> None:
        rows = table_rows(render_markdown(system_status()), "| Job type")

        assert rows[0] == "| Job type | pending | completed | failed | cancelled | Total |"
        assert rows[2] == "| report | 0 | 3 | 0 | 4 | 7 |"
        assert rows[3] == "| screener | 2 | 95 | 1 | 0 | 98 |"
        assert rows[4] == "| **Total** | 2 | 98 | 1 | 4 | **105** |"

    def test_success_rate_database_and_footer(self) -> None:
        text = render_markdown(system_status())

        assert "Success rate: **99.0%**" in text
        assert "PostgreSQL, 1.5 GiB, 12,345 runs in total." in text
        assert text.rstrip().endswith(
            "Generated 2026-11-22 09:00:00 UTC for the last 24 h (since 2026-11-21 09:00:00 UTC)."
        )

    def test_pool_queue_and_worker_tables(self) -> None:
        text = render_markdown(system_status(pools=[pool(queues=[queue(late_runs=2)])]))

        assert "| flowdesk | process | READY | no | 1 of 1 | 2 |" in text
        assert "| flowdesk | default | 10 | READY | no | 2 |" in text
        assert "| flowdesk | worker-1 | ONLINE | 2026-11-22 08:59:40 UTC |" in text

    def test_no_runs_and_unreachable_prefect(self) -> None:
        text = render_markdown(system_status(run_counts=[], pools=[], prefect_reachable=False))

        assert "No runs in the window." in text
        assert "Not available: the Prefect API did not answer." in text

    def test_failures_table_only_with_details(self) -> None:
        assert "## Recent failures" in render_markdown(system_status())
        assert "Recent failures" not in render_markdown(system_status(include_details=False))

    def test_hostile_error_text_keeps_the_table_intact(self) -> None:
        text = render_markdown(system_status(recent_failures=[failure(NASTY_ERROR, target="a|b")]))
        rows = table_rows(text, "| Finished")

        assert len(rows) == 3
        assert {cell_count(row) for row in rows} == {6}
        assert "<script>" not in text
        # A traceback is shown by its last line, the one naming the exception.
        assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt; \\| x" in rows[2]

    def test_multiline_error_becomes_one_line(self) -> None:
        text = render_markdown(system_status(recent_failures=[failure("first\nsecond | third")]))

        assert "| first ⏎ second \\| third |" in text

    def test_long_error_is_cut(self) -> None:
        text = render_markdown(system_status(recent_failures=[failure("x" * 1000)]))

        assert "x" * 199 + "…" in text
        assert "x" * 200 not in text


class TestRenderHtml:
    def test_is_a_full_document_with_tables(self) -> None:
        page = render_html(system_status())

        assert page.startswith("<!DOCTYPE html>")
        assert "<title>System status: healthy — flowdesk report</title>" in page
        assert "<table>" in page
        assert "<td>screener</td>" in page
        assert page.rstrip().endswith("</html>")

    def test_hostile_error_text_is_not_injected(self) -> None:
        page = render_html(
            system_status(
                recent_failures=[failure(NASTY_ERROR)],
                prefect_reachable=False,
                prefect_error="<img src=x onerror=alert(1)> & more",
            )
        )

        assert "<script>" not in page
        assert "<img" not in page
        assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt; | x" in page
        assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in page
        assert "&amp;lt;" not in page

    def test_markdown_punctuation_in_names_is_shown_literally(self) -> None:
        page = render_html(system_status(pools=[pool("__main__*pool*")]))

        assert "__main__*pool*" in page
        assert "<strong>main</strong>" not in page


class TestToJson:
    def test_round_trips_through_json(self) -> None:
        data = to_json(system_status(recent_failures=[failure(NASTY_ERROR)]))

        assert json.loads(json.dumps(data)) == data
        assert data["verdict"] == "healthy"
        assert data["totals"]["runs"] == 105
        assert data["totals"]["by_status"]["completed"] == 98
        assert data["recent_failures"][0]["error"] == NASTY_ERROR
        assert data["generated_at"] == "2026-11-22T09:00:00Z"

    def test_failures_left_out_without_details(self) -> None:
        assert to_json(system_status(include_details=False))["recent_failures"] == []


class TestSummary:
    def test_short_summary_for_the_api(self) -> None:
        result = summary(system_status(pools=[pool(is_paused=True)]))

        assert result == {
            "verdict": "degraded",
            "reasons": ["work pool 'flowdesk' is paused"],
            "runs_in_window": 105,
            "success_rate": 0.9899,
            "failures": 1,
            "database_size_bytes": 3 * 1024**3 // 2,
        }
        assert json.loads(json.dumps(result)) == result
