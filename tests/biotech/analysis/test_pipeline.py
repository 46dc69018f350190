"""analyze end to end: a realistic scan of one company, determinism, JSON and refusals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from flowdesk.biotech.analysis import AnalysisResult, EventType, Severity, analyze
from flowdesk.biotech.items import NewsItem, Priority
from tests.biotech.analysis.factories import NOW, news

E = EventType


def scan_items() -> list[NewsItem]:
    return [
        news(
            "FDA places clinical hold on Intellia's Phase 3 trial",
            "Intellia paused dosing after a patient died following a serious liver adverse event.",
            hours_ago=12,
            source="fierce",
            url="https://www.fiercebiotech.com/ntla-hold?utm_source=rss",
        ),
        news(
            "FDA places clinical hold on Intellia's Phase 3 trial - Reuters",
            hours_ago=10,
            source="google_news",
        ),
        news("Intellia reports third quarter 2025 financial results", hours_ago=24 * 2),
        news("Intellia appoints new Chief Medical Officer", hours_ago=24 * 6),
        news("Intellia to present data at AASLD", hours_ago=3),
        news("Intellia announces $250 million public offering", hours_ago=1, source="pr"),
    ]


def run(items: list[NewsItem], **overrides: object) -> AnalysisResult:
    arguments: dict[str, object] = {
        "company_id": "NTLA",
        "priority": Priority.MEDIUM,
        "seen_fingerprints": set(),
        "previous_risk": 45.0,
        "previous_risk_at": NOW - timedelta(days=7),
        "now": NOW,
    }
    arguments.update(overrides)
    return analyze(items, **arguments)  # type: ignore[arg-type]


class TestAnalyze:
    def test_scan_of_one_company_gives_insights_alerts_and_risk(self) -> None:
        items = scan_items()
        seen = {items[3].fingerprint}

        result = run(items, seen_fingerprints=seen)

        assert (result.received, result.duplicates) == (6, 2)
        assert [(i.title, i.event_type) for i in result.insights] == [
            ("Intellia reports third quarter 2025 financial results", E.EARNINGS),
            ("FDA places clinical hold on Intellia's Phase 3 trial", E.SAFETY),
            ("Intellia to present data at AASLD", E.TRIAL_UPDATE),
            ("Intellia announces $250 million public offering", E.FINANCING),
        ]
        hold = result.insights[1]
        assert (hold.sentiment, hold.materiality, hold.severity) == (
            -0.81,
            0.802,
            Severity.CRITICAL,
        )
        assert [a.fingerprint for a in result.alerts] == [hold.fingerprint]

    def test_worked_example_of_the_docs(self) -> None:
        result = run(scan_items()[:1])

        risk = result.risk
        assert (risk.previous, risk.decayed, risk.score, risk.delta) == (45.0, 46.46, 62.7, 17.7)
        assert [(d.event_type, d.impact) for d in risk.drivers] == [(E.SAFETY, 16.24)]

    def test_no_news_still_updates_the_risk_score(self) -> None:
        result = run([], previous_risk=80.0, previous_risk_at=NOW - timedelta(days=14))

        assert (result.insights, result.risk.score, result.risk.delta) == ((), 65.0, -15.0)

    def test_everything_already_seen_gives_no_insights(self) -> None:
        items = scan_items()

        result = run(items, seen_fingerprints={i.fingerprint for i in items})

        assert (result.insights, result.duplicates) == ((), 6)

    def test_same_input_gives_the_same_result(self) -> None:
        items = scan_items()

        assert run(items) == run(list(reversed(items)))
        assert run(items).to_dict() == run(items).to_dict()

    def test_high_priority_company_alerts_on_news_a_medium_one_does_not(self) -> None:
        collaboration = [
            news(
                "Intellia announces collaboration with Regeneron",
                "The positive partnership covers in vivo gene editing.",
            )
        ]

        medium = run(collaboration, priority=Priority.MEDIUM)
        high = run(collaboration, priority=Priority.HIGH)

        assert medium.insights[0].materiality == high.insights[0].materiality == 0.5
        assert (len(medium.alerts), len(high.alerts)) == (0, 1)
        assert high.alerts[0].severity is Severity.INFO

    def test_result_round_trips_through_json(self) -> None:
        result = run(scan_items())

        document = json.loads(json.dumps(result.to_dict()))

        assert document["company_id"] == "NTLA"
        assert document["alerts"] == 1
        assert document["risk"]["as_of"] == "2025-10-28T12:00:00+00:00"
        (hold,) = [i for i in document["insights"] if i["event_type"] == "safety"]
        assert hold["severity"] == "critical"
        assert hold["evidence"][0] == {
            "rule": "clinical hold",
            "field": "title",
            "text": "clinical hold",
        }
        assert hold["published_at"] == "2025-10-28T00:00:00+00:00"
        assert hold["model_version"] == "news-model-1"

    def test_item_of_another_company_is_refused(self) -> None:
        with pytest.raises(ValueError, match="items for BEAM passed to the scan of NTLA"):
            run([news("Beam doses first patient", company_id="BEAM")])

    def test_company_id_matches_case_insensitively(self) -> None:
        assert len(run([news("Intellia doses first patient", company_id="ntla")]).insights) == 1

    def test_naive_now_is_refused(self) -> None:
        with pytest.raises(ValueError, match="has no time zone"):
            run([], now=datetime(2025, 10, 28, 12))
