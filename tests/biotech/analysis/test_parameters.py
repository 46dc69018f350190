"""ModelParameters: the documented defaults and the refusal of out-of-range overrides."""

from __future__ import annotations

import pytest

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.parameters import (
    DEFAULT_PARAMETERS,
    EVENT_WEIGHTS,
    ModelParameters,
)
from flowdesk.biotech.items import Priority


class TestModelParameters:
    def test_defaults_are_the_documented_half_lives_and_risk_numbers(self) -> None:
        p = DEFAULT_PARAMETERS

        assert (p.recency_half_life_days, p.risk_half_life_days) == (3.0, 14.0)
        assert (p.risk_baseline, p.risk_points, p.risk_drivers) == (50.0, 25.0, 3)
        assert (p.dedupe_window_days, p.dedupe_title_jaccard) == (3.0, 0.85)
        assert (p.title_weight, p.summary_weight, p.version) == (0.6, 0.3, "news-model-1")

    def test_override_builds_a_new_model(self) -> None:
        strict = ModelParameters(version="strict-1", alert_min_abs_sentiment=0.5)

        assert (strict.version, strict.alert_min_abs_sentiment) == ("strict-1", 0.5)
        assert strict.event_weights == DEFAULT_PARAMETERS.event_weights

    def test_missing_event_weight_is_refused(self) -> None:
        weights: dict[EventType, float] = {
            k: v for k, v in EVENT_WEIGHTS.items() if k is not EventType.OTHER
        }

        with pytest.raises(ValueError, match="event_weights has no value for other"):
            ModelParameters(event_weights=weights)

    def test_weight_above_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"event_weights: 1.5 is outside \[0.0, 1.0\]"):
            ModelParameters(event_weights={**EVENT_WEIGHTS, EventType.SAFETY: 1.5})

    def test_missing_priority_threshold_is_refused(self) -> None:
        with pytest.raises(ValueError, match="alert_materiality has no value for low"):
            ModelParameters(alert_materiality={Priority.HIGH: 0.5, Priority.MEDIUM: 0.6})

    @pytest.mark.parametrize("name", ["recency_half_life_days", "risk_half_life_days"])
    def test_non_positive_half_life_is_refused(self, name: str) -> None:
        with pytest.raises(ValueError, match=f"{name} must be positive"):
            ModelParameters(**{name: 0.0})  # type: ignore[arg-type]

    def test_default_tables_cannot_be_mutated(self) -> None:
        with pytest.raises(TypeError):
            DEFAULT_PARAMETERS.event_weights[EventType.OTHER] = 1.0  # type: ignore[index]
