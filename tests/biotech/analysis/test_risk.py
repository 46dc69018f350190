"""The risk score: decay toward 50, moves by impact, clamping, drivers and validation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.insights import Insight
from flowdesk.biotech.analysis.risk import decay_risk, insight_impact, update_risk
from tests.biotech.analysis.factories import NOW

E = EventType


def insight(
    fingerprint: str, event_type: EventType, sentiment: float, materiality: float
) -> Insight:
    return Insight(
        fingerprint=fingerprint,
        company_id="NTLA",
        source="test_feed",
        title=f"headline {fingerprint}",
        url=None,
        published_at=NOW,
        event_type=event_type,
        confidence=1.0,
        evidence=(),
        sentiment=sentiment,
        sentiment_prior=0.0,
        sentiment_terms=(),
        materiality=materiality,
        is_alert=False,
        severity=None,
        model_version="news-model-1",
    )


class TestUpdateRisk:
    def test_no_news_decays_halfway_to_fifty_in_fourteen_days(self) -> None:
        update = update_risk(80.0, [], NOW, NOW - timedelta(days=14))

        assert (update.score, update.decayed, update.delta, update.drivers) == (
            65.0,
            65.0,
            -15.0,
            (),
        )

    def test_low_score_also_drifts_up_toward_fifty(self) -> None:
        update = update_risk(20.0, [], NOW, NOW - timedelta(days=28))

        assert update.score == 42.5

    def test_bad_news_raises_the_score(self) -> None:
        crl = insight("crl", E.REGULATORY_REJECTION, -0.8, 0.9)

        update = update_risk(40.0, [crl], NOW, NOW)

        # 40 + 25 * 0.9 * 0.8
        assert (update.score, update.delta) == (58.0, 18.0)

    def test_good_news_lowers_the_score(self) -> None:
        approval = insight("approval", E.REGULATORY_APPROVAL, 0.6, 0.9)

        update = update_risk(40.0, [approval], NOW, NOW)

        # 40 - 25 * 0.9 * 0.6
        assert (update.score, update.delta) == (26.5, -13.5)

    def test_first_score_starts_from_fifty(self) -> None:
        update = update_risk(None, [insight("hold", E.SAFETY, -0.81, 0.802)], NOW, None)

        assert (update.previous, update.decayed, update.score, update.delta) == (
            None,
            50.0,
            66.24,
            16.24,
        )

    def test_score_is_clamped_to_the_scale(self) -> None:
        disasters = [insight(f"d{i}", E.SAFETY, -1.0, 1.0) for i in range(5)]
        triumphs = [insight(f"t{i}", E.REGULATORY_APPROVAL, 1.0, 1.0) for i in range(5)]

        assert update_risk(90.0, disasters, NOW, NOW).score == 100.0
        assert update_risk(10.0, triumphs, NOW, NOW).score == 0.0

    def test_drivers_are_the_largest_movers_with_their_points(self) -> None:
        insights = [
            insight("small", E.EARNINGS, 0.4, 0.3),
            insight("crl", E.REGULATORY_REJECTION, -0.8, 0.9),
            insight("neutral", E.OTHER, 0.0, 0.15),
            insight("approval", E.REGULATORY_APPROVAL, 0.6, 0.9),
            insight("deal", E.PARTNERSHIP, 0.3, 0.5),
        ]

        update = update_risk(50.0, insights, NOW, NOW)

        assert [(d.fingerprint, d.event_type, d.impact) for d in update.drivers] == [
            ("crl", E.REGULATORY_REJECTION, 18.0),
            ("approval", E.REGULATORY_APPROVAL, -13.5),
            ("deal", E.PARTNERSHIP, -3.75),
        ]

    def test_neutral_news_is_not_a_driver(self) -> None:
        update = update_risk(50.0, [insight("neutral", E.OTHER, 0.0, 0.15)], NOW, NOW)

        assert (update.score, update.drivers) == (50.0, ())

    def test_driver_ties_break_by_publication_then_fingerprint(self) -> None:
        late = replace(insight("a", E.SAFETY, -0.6, 0.9), published_at=NOW + timedelta(hours=1))
        early_b = insight("b", E.SAFETY, -0.6, 0.9)
        early_c = insight("c", E.SAFETY, -0.6, 0.9)

        update = update_risk(50.0, [late, early_c, early_b], NOW, NOW)

        assert [d.fingerprint for d in update.drivers] == ["b", "c", "a"]

    def test_previous_score_without_its_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="needs the time"):
            update_risk(40.0, [], NOW, None)

    def test_previous_score_off_the_scale_is_refused(self) -> None:
        with pytest.raises(ValueError, match="outside"):
            update_risk(140.0, [], NOW, NOW)

    def test_history_entry_is_json_ready(self) -> None:
        update = update_risk(60.0, [insight("crl", E.REGULATORY_REJECTION, -0.8, 0.9)], NOW, NOW)

        assert update.to_dict() == {
            "score": 78.0,
            "previous": 60.0,
            "decayed": 60.0,
            "delta": 18.0,
            "drivers": [
                {
                    "fingerprint": "crl",
                    "title": "headline crl",
                    "event_type": "regulatory_rejection",
                    "impact": 18.0,
                }
            ],
            "as_of": "2025-10-28T12:00:00+00:00",
        }


class TestDecayRisk:
    def test_clock_behind_the_previous_score_does_not_decay(self) -> None:
        assert decay_risk(70.0, NOW + timedelta(days=1), NOW) == 70.0

    def test_impact_is_points_times_materiality_times_negated_sentiment(self) -> None:
        assert insight_impact(insight("x", E.SAFETY, -0.5, 0.8)) == pytest.approx(10.0)
