"""The biotech_weekly report on seeded desk tables, on SQLite and Postgres: what counts in
the window, risk then and now, movers, lists, renderings and the notification."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import PrefectClient
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.biotech.companies import AnalysisFrequency, Company
from flowdesk.biotech.items import Priority
from flowdesk.db.desk import Alert, CompanyScan, Insight, RiskScore
from flowdesk.db.engine import make_engine, session_scope
from flowdesk.db.migrate import upgrade
from flowdesk.jobs.report import run_report
from flowdesk.reports import biotech_weekly as bw
from flowdesk.reports.biotech_weekly_gather import gather_biotech_weekly
from flowdesk.reports.registry import REPORT_TYPES, BiotechWeeklyParams, parse_report_params
from flowdesk.runs.snapshots import report_snapshot
from flowdesk.settings import get_settings
from tests import services

AS_OF = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC
START = AS_OF - timedelta(days=7)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
ESCAPE_TITLE = "Gilead | Arcus <script>alert(1)</script> deal"


def company(company_id: str, name: str, priority: Priority) -> Company:
    return Company(
        id=company_id, name=name, priority=priority, analysis_frequency=AnalysisFrequency.DAILY
    )


COMPANIES = [
    company("MRNA", "Moderna", Priority.HIGH),
    company("GILD", "Gilead Sciences", Priority.HIGH),
    company("PFE", "Pfizer", Priority.MEDIUM),
    company("REGN", "Regeneron", Priority.MEDIUM),
    company("BIIB", "Biogen", Priority.LOW),
]


@dataclass(frozen=True)
class Seed:
    company_id: str
    event_type: str
    sentiment: float
    materiality: float
    published_at: datetime
    severity: str | None = None
    title: str = ""
    created_at: datetime | None = None  # default: published_at
    alert_at: datetime | None = None  # default: created_at, when severity is set


IN_WINDOW = [
    Seed("MRNA", "trial_negative", -0.8, 0.92, AS_OF - 2 * DAY, "critical", "Phase 3 misses"),
    Seed("MRNA", "safety", -0.6, 0.85, AS_OF - DAY, "critical", "FDA safety review"),
    Seed("MRNA", "trial_update", 0.2, 0.3, AS_OF - 3 * DAY),
    Seed("MRNA", "trial_update", 0.1, 0.25, AS_OF - 4 * DAY),
    Seed("PFE", "earnings", 0.4, 0.3, AS_OF - 5 * DAY),
    Seed("PFE", "earnings", 0.2, 0.2, AS_OF - 6 * DAY),
    Seed("PFE", "partnership", -0.1, 0.5, AS_OF - 4 * DAY, "warning", "Pfizer pact", None,
         AS_OF - 4 * DAY + HOUR),
    Seed("GILD", "regulatory_approval", 0.7, 0.9, AS_OF - 3 * DAY, "info", "Approval"),
    Seed("GILD", "partnership", 0.3, 0.5, AS_OF - 2 * DAY, None, ESCAPE_TITLE),
    Seed("REGN", "other", 0.0, 0.1, START),  # on the window's first instant: counts
]  # fmt: skip
OUTSIDE = [
    # Published before the window but analysed in it: not an insight of the week, but
    # its alert was raised in the week.
    Seed("MRNA", "litigation", -0.5, 0.6, START - timedelta(seconds=1), "warning",
         "Patent suit", START + HOUR),
    # Published at as_of: the window is half-open.
    Seed("PFE", "safety", -0.9, 0.95, AS_OF, "critical", "Recall"),
    # Published in the window but stored after as_of: a rerun must not see it.
    Seed("GILD", "earnings", 0.5, 0.4, AS_OF - DAY, None, "Late", AS_OF + HOUR),
    Seed("BIIB", "safety", -0.9, 0.9, START - 3 * DAY, "critical", "Old news"),
]  # fmt: skip
RISK = {
    "MRNA": [(START - 3 * DAY, 40.0), (START - HOUR, 41.0), (START + 2 * DAY, 55.0),
             (AS_OF - DAY, 63.5), (AS_OF + HOUR, 90.0)],
    "PFE": [(START - 2 * DAY, 50.0), (AS_OF - 2 * DAY, 58.0)],
    "GILD": [(START, 58.0), (AS_OF - 3 * DAY, 52.0), (AS_OF, 49.0)],
    "REGN": [(AS_OF - 5 * DAY, 52.0)],
}  # fmt: skip
SCANS = {"BIIB": START - 2 * DAY, "MRNA": AS_OF + HOUR}


async def _seed(session: AsyncSession) -> None:
    for seed in IN_WINDOW + OUTSIDE:
        created = seed.created_at or seed.published_at
        insight = Insight(
            id=uuid.uuid4(),
            company_id=seed.company_id,
            fingerprint=uuid.uuid4().hex,
            source="sample",
            title=seed.title or f"{seed.company_id} {seed.event_type}",
            url=f"https://news.example.com/{seed.company_id.lower()}/a (1)",
            published_at=seed.published_at,
            event_type=seed.event_type,
            sentiment=seed.sentiment,
            materiality=seed.materiality,
            severity=seed.severity,
            evidence=[],
            created_at=created,
        )
        session.add(insight)
        await session.flush()
        if seed.severity is not None:
            session.add(
                Alert(
                    insight_id=insight.id,
                    company_id=seed.company_id,
                    severity=seed.severity,
                    title=insight.title,
                    deliveries=[],
                    delivered_at=None if seed.severity == "warning" else created,
                    created_at=seed.alert_at or created,
                )
            )
    for company_id, rows in RISK.items():
        session.add_all(
            RiskScore(company_id=company_id, score=score, delta=0.0, drivers=[], computed_at=at)
            for at, score in rows
        )
    session.add_all(CompanyScan(company_id=c, last_scanned_at=at) for c, at in SCANS.items())


def _database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'desk.db'}"
        return
    services.require_postgres()
    name = services.create_database("flowdesk_weekly")
    try:
        yield services.sqlalchemy_url(name)
    finally:
        services.drop_database(name)


async def _in_session(url: str, work: Any) -> Any:
    engine = make_engine(url, pooled=False)
    try:
        async with session_scope(engine) as session:
            return await work(session)
    finally:
        await engine.dispose()


def gather(url: str, companies: Sequence[Company] = COMPANIES, **params: Any) -> bw.BiotechWeekly:
    parsed = BiotechWeeklyParams(**({"top_n": 5, "alerts_limit": 3} | params))
    return asyncio.run(
        _in_session(url, lambda s: gather_biotech_weekly(s, parsed, companies, as_of=AS_OF))
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database holding the seed rows, once per backend."""
    for url in _database(request.param, tmp_path_factory.mktemp(request.param)):
        upgrade(url)
        asyncio.run(_in_session(url, _seed))
        yield url


@pytest.fixture(scope="module")
def report(seeded_url: str) -> bw.BiotechWeekly:
    return gather(seeded_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with no desk rows."""
    for url in _database(request.param, tmp_path):
        upgrade(url)
        yield url


def by_id(report: bw.BiotechWeekly) -> dict[str, bw.CompanyWeek]:
    return {c.company_id: c for c in report.companies}


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The cells of the body rows of the markdown table whose header starts so."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


class TestGatherCounts:
    def test_counts_per_company_leave_out_rows_outside_the_window(
        self, report: bw.BiotechWeekly
    ) -> None:
        companies = by_id(report)

        assert {c: w.insights for c, w in companies.items()} == {
            "BIIB": 0, "GILD": 2, "MRNA": 4, "PFE": 3, "REGN": 1
        }  # fmt: skip
        assert companies["MRNA"].alerts == {"critical": 2, "warning": 1}
        assert companies["PFE"].alerts == {"warning": 1}
        assert companies["GILD"].alerts == {"info": 1}
        assert companies["BIIB"].alerts == {}
        assert bw.alert_totals(report) == {"critical": 2, "warning": 2, "info": 1}

    def test_dominant_event_and_mean_sentiment(self, report: bw.BiotechWeekly) -> None:
        companies = by_id(report)

        assert {c: w.dominant_event for c, w in companies.items()} == {
            "BIIB": None,
            "GILD": "partnership",  # 1 each with regulatory_approval: alphabetical
            "MRNA": "trial_update",
            "PFE": "earnings",
            "REGN": "other",
        }
        assert companies["MRNA"].sentiment_mean == pytest.approx(-0.275)
        assert companies["PFE"].sentiment_mean == pytest.approx(0.5 / 3, abs=1e-6)
        assert companies["BIIB"].sentiment_mean is None

    def test_event_breakdown_most_first_ties_alphabetical(self, report: bw.BiotechWeekly) -> None:
        assert list(bw.event_breakdown(report).items()) == [
            ("earnings", 2),
            ("partnership", 2),
            ("trial_update", 2),
            ("other", 1),
            ("regulatory_approval", 1),
            ("safety", 1),
            ("trial_negative", 1),
        ]

    def test_portfolio_sentiment_is_weighted_by_materiality(self, report: bw.BiotechWeekly) -> None:
        weighted = sum(s.sentiment * s.materiality for s in IN_WINDOW)
        weight = sum(s.materiality for s in IN_WINDOW)

        assert bw.portfolio_sentiment(report) == pytest.approx(weighted / weight, abs=1e-4)
        assert bw.portfolio_sentiment(report) == pytest.approx(-0.0562, abs=1e-4)


class TestGatherRisk:
    def test_risk_then_and_now_bracket_the_window(self, report: bw.BiotechWeekly) -> None:
        companies = by_id(report)

        # MRNA: 41.0 just before the start, 63.5 the day before; 90.0 came after as_of.
        assert (companies["MRNA"].risk_then, companies["MRNA"].risk_now) == (41.0, 63.5)
        assert companies["MRNA"].risk_change == 22.5
        assert companies["PFE"].risk_change == 8.0
        # GILD: rows exactly at the start and exactly at as_of are "at or before".
        assert (companies["GILD"].risk_then, companies["GILD"].risk_now) == (58.0, 49.0)
        assert companies["GILD"].risk_change == -9.0

    def test_first_scored_in_window_has_no_change_and_unscored_has_nothing(
        self, report: bw.BiotechWeekly
    ) -> None:
        regn, biib = by_id(report)["REGN"], by_id(report)["BIIB"]

        assert (regn.risk_then, regn.risk_now, regn.risk_change) == (None, 52.0, None)
        assert (biib.risk_then, biib.risk_now, biib.risk_change) == (None, None, None)

    def test_top_movers_largest_first(self, report: bw.BiotechWeekly) -> None:
        assert [c.company_id for c in bw.risers(report)] == ["MRNA", "PFE"]
        assert [c.company_id for c in bw.fallers(report)] == ["GILD"]

    def test_company_without_a_scan_in_the_window_is_a_data_gap(
        self, report: bw.BiotechWeekly
    ) -> None:
        companies = by_id(report)

        assert bw.data_gaps(report) == ["BIIB"]
        assert companies["BIIB"].last_scan_at == START - 2 * DAY
        # MRNA's scan mark is after as_of: its last scan at as_of is its last score.
        assert companies["MRNA"].last_scan_at == AS_OF - DAY


class TestGatherLists:
    def test_material_events_by_materiality_then_newest(self, report: bw.BiotechWeekly) -> None:
        assert [(e.company_id, e.event_type, e.materiality) for e in report.material_events] == [
            ("MRNA", "trial_negative", 0.92),
            ("GILD", "regulatory_approval", 0.9),
            ("MRNA", "safety", 0.85),
            ("GILD", "partnership", 0.5),  # ties with PFE's at 0.5: newer first
            ("PFE", "partnership", 0.5),
        ]

    def test_alerts_are_critical_and_warning_newest_first_capped(
        self, seeded_url: str, report: bw.BiotechWeekly
    ) -> None:
        assert [(a.company_id, a.severity, a.title) for a in report.alerts] == [
            ("MRNA", "critical", "FDA safety review"),
            ("MRNA", "critical", "Phase 3 misses"),
            ("PFE", "warning", "Pfizer pact"),
        ]
        uncapped = gather(seeded_url, alerts_limit=10)
        assert [a.title for a in uncapped.alerts][-1] == "Patent suit"
        assert len(uncapped.alerts) == 4

    def test_same_state_gives_the_same_renderings_whatever_the_order_asked(
        self, seeded_url: str, report: bw.BiotechWeekly
    ) -> None:
        again = gather(seeded_url, list(reversed(COMPANIES)))

        assert bw.render_markdown(again) == bw.render_markdown(report)
        assert json.dumps(bw.to_json(again)) == json.dumps(bw.to_json(report))


class TestMarkdown:
    def test_executive_summary_states_the_week(self, report: bw.BiotechWeekly) -> None:
        text = bw.render_markdown(report)

        assert text.startswith("# Weekly biotech report — week ending 2026-11-23\n")
        assert (
            "In the 7 days to 2026-11-23 08:00:00 UTC the desk recorded 10 insights on 4 of 5 "
            "companies and raised 5 alerts (2 critical, 2 warning, 1 info)."
        ) in text
        assert "Risk rose most at MRNA 41.0 → 63.5 (+22.5) and fell most at GILD" in text
        assert "- Risk up most: MRNA 41.0 → 63.5 (+22.5), PFE 50.0 → 58.0 (+8.0)" in text
        assert "- Portfolio sentiment: -0.06 (neutral)" in text
        assert "- Analysis coverage: 4 of 5 companies scanned; data gap: BIIB" in text

    def test_portfolio_table_rows(self, report: bw.BiotechWeekly) -> None:
        rows = table_rows(bw.render_markdown(report), "| Company | Priority")

        assert [row[:9] for row in rows] == [
            ["MRNA (Moderna)", "high", "63.5", "+22.5", "4", "2", "1", "0", "trial\\_update"],
            ["GILD (Gilead Sciences)", "high", "49.0", "-9.0", "2", "0", "0", "1", "partnership"],
            ["PFE (Pfizer)", "medium", "58.0", "+8.0", "3", "0", "1", "0", "earnings"],
            ["REGN (Regeneron)", "medium", "52.0", "new", "1", "0", "0", "0", "other"],
            ["BIIB (Biogen)", "low", "—", "—", "0", "0", "0", "0", "—"],
        ]
        assert rows[-1][-1] == "2026-11-14 08:00:00 UTC (gap)"

    def test_event_breakdown_and_alerts_tables(self, report: bw.BiotechWeekly) -> None:
        text = bw.render_markdown(report)

        assert table_rows(text, "| Event type")[0] == ["earnings", "2", "20%"]
        assert "The 3 most recent of 4, newest first." in text
        alerts = table_rows(text, "| Created")
        assert [row[1:4] for row in alerts] == [
            ["MRNA", "critical", "FDA safety review"],
            ["MRNA", "critical", "Phase 3 misses"],
            ["PFE", "warning", "Pfizer pact"],
        ]
        assert alerts[2][4] == "not delivered"

    def test_alerts_limit_zero_lists_none_but_counts_them(self, seeded_url: str) -> None:
        text = bw.render_markdown(gather(seeded_url, alerts_limit=0))

        assert "4 in the window; none listed (alerts_limit is 0)." in text
        assert "| Created" not in text

    def test_user_text_is_escaped_and_links_stay_in_their_cell(
        self, report: bw.BiotechWeekly
    ) -> None:
        text = bw.render_markdown(report)
        rows = table_rows(text, "| Published")

        assert len(rows) == 5
        assert all(len(row) == 7 for row in rows)
        assert "https://news.example.com/gild/a%20%281%29" in text
        page = bw.render_html(report)
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert page.startswith("<!DOCTYPE html>")
        assert "<table>" in page


class TestEmptyWindow:
    def test_no_data_still_renders_and_says_so(self, empty_url: str) -> None:
        report = gather(empty_url, COMPANIES[:2])

        text = bw.render_markdown(report)
        assert "No insights were recorded for the 2 companies covered in the 7 days" in text
        assert "- Insights: none" in text
        assert "- Alerts: 0 (0 critical, 0 warning)" in text
        assert "the desk raised no alerts." in text
        assert "- Portfolio sentiment: n/a (no insights)" in text
        assert "No critical or warning alerts in the window." in text
        assert text.count("No insights in the window.") == 2  # material events, breakdown
        assert table_rows(text, "| Company | Priority")[0][:4] == ["GILD (Gilead Sciences)",
                                                                "high", "—", "—"]  # fmt: skip
        assert "<h1>" in bw.render_html(report)
        assert bw.summary(report) | {"as_of": None} == {
            "as_of": None,
            "days": 7,
            "companies": 2,
            "insights": 0,
            "alerts": {"critical": 0, "warning": 0, "info": 0},
            "risk_up": [],
            "risk_down": [],
            "portfolio_sentiment": None,
            "data_gaps": ["GILD", "MRNA"],
        }
        subject, _ = bw.notification(report)
        assert subject.endswith(
            "week ending 2026-11-23: 0 critical alerts, no insights in the window"
        )


class TestSummaryAndNotification:
    def test_summary(self, report: bw.BiotechWeekly) -> None:
        summary = bw.summary(report)

        assert summary["as_of"] == "2026-11-23T08:00:00+00:00"
        assert (summary["companies"], summary["insights"]) == (5, 10)
        assert summary["risk_up"] == [
            {"company_id": "MRNA", "then": 41.0, "now": 63.5, "change": 22.5},
            {"company_id": "PFE", "then": 50.0, "now": 58.0, "change": 8.0},
        ]
        assert summary["risk_down"] == [
            {"company_id": "GILD", "then": 58.0, "now": 49.0, "change": -9.0}
        ]
        assert summary["data_gaps"] == ["BIIB"]

    def test_json_adds_the_computed_figures(self, report: bw.BiotechWeekly) -> None:
        data = json.loads(json.dumps(bw.to_json(report)))

        mrna = next(c for c in data["companies"] if c["company_id"] == "MRNA")
        assert (mrna["risk_change"], mrna["dominant_event"]) == (22.5, "trial_update")
        assert data["event_breakdown"]["earnings"] == 2
        assert data["summary"]["alerts"] == {"critical": 2, "warning": 2, "info": 1}
        assert data["window_start"] == "2026-11-16T08:00:00Z"

    def test_notification_names_critical_alerts_and_risers(self, report: bw.BiotechWeekly) -> None:
        subject, body = bw.notification(report)

        assert subject == (
            "flowdesk weekly biotech report — week ending 2026-11-23: "
            "2 critical alerts, risk up at MRNA, PFE"
        )
        assert "- Alerts: 5 (2 critical, 2 warning, 1 info)" in body
        assert "- Analysis coverage: 4 of 5 companies scanned; data gap: BIIB" in body
        assert body.rstrip().endswith(bw.ARTIFACTS_POINTER)
        assert "\\" not in body  # plain text: no markdown escapes

    def test_a_rise_under_five_points_is_not_news(self, report: bw.BiotechWeekly) -> None:
        calmer = report.model_copy(
            update={
                "companies": [
                    c.model_copy(update={"risk_now": 54.9}) if c.company_id == "PFE" else c
                    for c in report.companies
                ]
            }
        )

        assert bw.notification(calmer)[0].endswith("2 critical alerts, risk up at MRNA")


class TestParams:
    def test_defaults(self) -> None:
        assert parse_report_params("biotech_weekly", {}) == BiotechWeeklyParams(
            days=7, companies=None, top_n=10, alerts_limit=25
        )

    def test_company_ids_are_normalised_and_deduplicated(self) -> None:
        params = parse_report_params("biotech_weekly", {"companies": ["mrna", " PFE", "MRNA"]})

        assert isinstance(params, BiotechWeeklyParams)
        assert params.companies == ["MRNA", "PFE"]

    def test_unknown_company_ids_are_named(self) -> None:
        with pytest.raises(ValidationError) as caught:
            parse_report_params("biotech_weekly", {"companies": ["MRNA", "ZZZZ", "QQQ"]})

        [error] = caught.value.errors()
        assert error["loc"] == ("companies",)
        assert "unknown company ids: ZZZZ, QQQ" in error["msg"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [("days", 0), ("days", 91), ("top_n", 0), ("alerts_limit", 201), ("companies", [])],
    )
    def test_out_of_range_parameter_names_the_field(self, field: str, value: object) -> None:
        with pytest.raises(ValidationError) as caught:
            parse_report_params("biotech_weekly", {field: value})

        assert [error["loc"] for error in caught.value.errors()] == [(field,)]

    def test_report_type_is_registered(self) -> None:
        assert REPORT_TYPES["biotech_weekly"] is BiotechWeeklyParams


class TestRunReport:
    def test_writes_three_artifacts_and_a_notification(
        self, seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FLOWDESK_ARTIFACTS_DIR", str(tmp_path))
        get_settings.cache_clear()
        snapshot = report_snapshot(
            report_type="biotech_weekly",
            parameters={"companies": ["MRNA", "PFE", "GILD", "REGN", "BIIB"], "days": 7},
            submitted_by="test",
            at=AS_OF,
        )
        # Only system_status talks to Prefect; this client is never used.
        client = PrefectClient("http://127.0.0.1:9/api")
        try:
            outcome = asyncio.run(
                _in_session(seeded_url, lambda s: run_report("run-1", snapshot, s, client))
            )
        finally:
            get_settings.cache_clear()

        assert [a["name"] for a in outcome.artifacts] == ["report.md", "report.html", "data.json"]
        assert (tmp_path / "run-1" / "report.md").read_text() == outcome.markdown
        data = json.loads((tmp_path / "run-1" / "data.json").read_text())
        assert data["as_of"] == "2026-11-23T08:00:00Z"
        assert outcome.summary["insights"] == 10
        assert outcome.notification is not None
        assert outcome.notification[0].endswith("2 critical alerts, risk up at MRNA, PFE")
