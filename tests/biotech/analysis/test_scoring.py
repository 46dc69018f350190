"""Materiality (weight x confidence x recency) and the alert and severity rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters
from flowdesk.biotech.analysis.scoring import (
    Severity,
    assess_significance,
    recency_factor,
    score_materiality,
)
from flowdesk.biotech.items import Priority
from tests.biotech.analysis.factories import NOW

E = EventType


class TestScoreMateriality:
    def test_fresh_certain_item_scores_its_event_weight(self) -> None:
        assert score_materiality(E.REGULATORY_REJECTION, 1.0, NOW, NOW) == 0.95

    def test_materiality_halves_every_three_days(self) -> None:
        fresh = score_materiality(E.SAFETY, 1.0, NOW, NOW)
        three_days = score_materiality(E.SAFETY, 1.0, NOW - timedelta(days=3), NOW)
        six_days = score_materiality(E.SAFETY, 1.0, NOW - timedelta(days=6), NOW)

        assert (fresh, three_days, six_days) == (0.9, 0.45, 0.225)

    def test_item_dated_after_now_counts_as_fresh(self) -> None:
        assert recency_factor(NOW + timedelta(hours=2), NOW) == 1.0

    def test_confidence_scales_materiality(self) -> None:
        assert score_materiality(E.REGULATORY_APPROVAL, 0.6, NOW, NOW) == 0.54

    def test_event_weights_order_binary_catalysts_above_routine_news(self) -> None:
        def fresh(event: EventType) -> float:
            return score_materiality(event, 1.0, NOW, NOW)

        assert fresh(E.TRIAL_NEGATIVE) > fresh(E.FINANCING) > fresh(E.EARNINGS) > fresh(E.OTHER)

    def test_half_life_comes_from_the_parameters(self) -> None:
        slow = ModelParameters(recency_half_life_days=6.0)

        assert score_materiality(E.SAFETY, 1.0, NOW - timedelta(days=6), NOW, slow) == 0.45


class TestAssessSignificance:
    def test_fresh_rejection_is_a_critical_alert(self) -> None:
        result = assess_significance(E.REGULATORY_REJECTION, -0.7, 0.95, Priority.LOW)

        assert (result.is_alert, result.severity) == (True, Severity.CRITICAL)

    def test_approval_above_threshold_is_an_info_alert(self) -> None:
        result = assess_significance(E.REGULATORY_APPROVAL, 0.6, 0.765, Priority.MEDIUM)

        assert (result.is_alert, result.severity) == (True, Severity.INFO)

    @pytest.mark.parametrize(
        ("priority", "is_alert"),
        [(Priority.HIGH, True), (Priority.MEDIUM, False), (Priority.LOW, False)],
    )
    def test_priority_sets_the_materiality_an_alert_needs(
        self, priority: Priority, is_alert: bool
    ) -> None:
        # A fresh partnership: materiality 0.5 x 1.0, sentiment +0.3.
        result = assess_significance(E.PARTNERSHIP, 0.3, 0.5, priority)

        assert result.is_alert is is_alert

    def test_material_but_neutral_news_is_not_an_alert(self) -> None:
        result = assess_significance(E.REGULATORY_UPDATE, 0.2, 0.65, Priority.HIGH)

        assert (result.is_alert, result.severity) == (False, None)

    def test_always_alert_type_alerts_whatever_the_sentiment(self) -> None:
        result = assess_significance(E.M_AND_A, 0.0, 0.3, Priority.LOW)

        assert (result.is_alert, result.severity) == (True, Severity.WARNING)

    def test_stale_always_alert_item_does_not_alert(self) -> None:
        result = assess_significance(E.SAFETY, -0.6, 0.19, Priority.HIGH)

        assert result.is_alert is False

    def test_negative_alert_below_critical_materiality_is_a_warning(self) -> None:
        result = assess_significance(E.LITIGATION, -0.6, 0.6, Priority.HIGH)

        assert (result.is_alert, result.severity) == (True, Severity.WARNING)

    def test_critical_needs_both_bad_sentiment_and_high_materiality(self) -> None:
        just = assess_significance(E.SAFETY, -0.5, 0.7, Priority.MEDIUM)
        milder = assess_significance(E.SAFETY, -0.49, 0.9, Priority.MEDIUM)

        assert (just.severity, milder.severity) == (Severity.CRITICAL, Severity.WARNING)

    def test_thresholds_are_the_documented_defaults(self) -> None:
        p = DEFAULT_PARAMETERS
        assert dict(p.alert_materiality) == {
            Priority.HIGH: 0.5,
            Priority.MEDIUM: 0.6,
            Priority.LOW: 0.7,
        }
        assert (p.alert_min_abs_sentiment, p.always_alert_min_materiality) == (0.3, 0.2)
        assert (p.critical_max_sentiment, p.critical_min_materiality) == (-0.5, 0.7)
