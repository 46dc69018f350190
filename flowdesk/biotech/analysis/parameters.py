"""Every number of the analysis model, in one frozen object with documented defaults.

The model's modules read their weights, half-lives and thresholds from a
`ModelParameters`; `DEFAULT_PARAMETERS` is what docs/analysis-model.md describes, and a
test holds the two in step. Settings may later build another `ModelParameters` (for a
back-test, say); the constructor refuses values outside their ranges, so a bad override
fails when it is built, not halfway through a scan. `version` is stored with every
insight, so a stored score can always be traced to the numbers that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.items import Priority

E = EventType

# How much an event of this type can matter, before confidence and recency: the weight a
# fresh, certain item gets as its materiality. Binary catalysts (a drug approved or not, a
# trial read out, a safety problem, a deal) near 1; process news in the middle; routine
# news low.
EVENT_WEIGHTS: Mapping[EventType, float] = MappingProxyType(
    {
        E.REGULATORY_REJECTION: 0.95,
        E.REGULATORY_APPROVAL: 0.9,
        E.TRIAL_NEGATIVE: 0.9,
        E.SAFETY: 0.9,
        E.TRIAL_POSITIVE: 0.85,
        E.M_AND_A: 0.85,
        E.REGULATORY_UPDATE: 0.55,
        E.LITIGATION: 0.5,
        E.FINANCING: 0.5,
        E.PARTNERSHIP: 0.5,
        E.TRIAL_UPDATE: 0.45,
        E.LEADERSHIP: 0.45,
        E.EARNINGS: 0.35,
        E.OTHER: 0.15,
    }
)

# The sentiment an event of this type has before any word is read. M&A is 0: the same
# headline is good news for a target and a cost for a buyer, so only the words decide.
EVENT_PRIORS: Mapping[EventType, float] = MappingProxyType(
    {
        E.REGULATORY_APPROVAL: 0.6,
        E.REGULATORY_REJECTION: -0.7,
        E.REGULATORY_UPDATE: 0.2,
        E.TRIAL_POSITIVE: 0.5,
        E.TRIAL_NEGATIVE: -0.6,
        E.TRIAL_UPDATE: 0.1,
        E.SAFETY: -0.6,
        E.LITIGATION: -0.3,
        E.FINANCING: -0.2,
        E.M_AND_A: 0.0,
        E.LEADERSHIP: -0.1,
        E.PARTNERSHIP: 0.3,
        E.EARNINGS: 0.0,
        E.OTHER: 0.0,
    }
)

# Materiality an item needs to alert, by how closely the desk watches the company.
ALERT_MATERIALITY: Mapping[Priority, float] = MappingProxyType(
    {Priority.HIGH: 0.5, Priority.MEDIUM: 0.6, Priority.LOW: 0.7}
)

# Types that alert whatever the sentiment, as long as the item is not stale.
ALWAYS_ALERT: frozenset[EventType] = frozenset(
    {E.SAFETY, E.REGULATORY_REJECTION, E.TRIAL_NEGATIVE, E.M_AND_A}
)


@dataclass(frozen=True)
class ModelParameters:
    """The analysis model's numbers; the defaults are the documented model."""

    version: str = "news-model-1"
    event_weights: Mapping[EventType, float] = field(default_factory=lambda: EVENT_WEIGHTS)
    event_priors: Mapping[EventType, float] = field(default_factory=lambda: EVENT_PRIORS)
    # Sentiment: prior + title_weight * (title terms) + summary_weight * (summary terms).
    title_weight: float = 0.6
    summary_weight: float = 0.3
    # Materiality halves every 3 days: a 1-week-old approval is background, not news.
    recency_half_life_days: float = 3.0
    alert_materiality: Mapping[Priority, float] = field(default_factory=lambda: ALERT_MATERIALITY)
    alert_min_abs_sentiment: float = 0.3
    always_alert: frozenset[EventType] = ALWAYS_ALERT
    # 0.9 (safety) halves below 0.2 after about 6.5 days: older items no longer alert.
    always_alert_min_materiality: float = 0.2
    critical_max_sentiment: float = -0.5
    critical_min_materiality: float = 0.7
    # Risk: decays toward the neutral 50 with a 14-day half-life; an item of materiality 1
    # and sentiment -1 adds 25 points, a fresh complete response letter (0.95, -0.7) 16.6.
    risk_baseline: float = 50.0
    risk_half_life_days: float = 14.0
    risk_points: float = 25.0
    risk_drivers: int = 3
    # De-duplication: near-identical titles of one company within 3 days are one story.
    dedupe_window_days: float = 3.0
    dedupe_title_jaccard: float = 0.85

    def __post_init__(self) -> None:
        for name, table in (
            ("event_weights", self.event_weights),
            ("event_priors", self.event_priors),
        ):
            missing = sorted(set(EventType) - set(table))
            if missing:
                raise ValueError(f"{name} has no value for {', '.join(missing)}")
        if missing_priorities := sorted(set(Priority) - set(self.alert_materiality)):
            raise ValueError(f"alert_materiality has no value for {', '.join(missing_priorities)}")
        _in_range("event_weights", self.event_weights.values(), 0.0, 1.0)
        _in_range("event_priors", self.event_priors.values(), -1.0, 1.0)
        _in_range("alert_materiality", self.alert_materiality.values(), 0.0, 1.0)
        _in_range("risk_baseline", [self.risk_baseline], 0.0, 100.0)
        _in_range("dedupe_title_jaccard", [self.dedupe_title_jaccard], 0.0, 1.0)
        for name in ("recency_half_life_days", "risk_half_life_days", "title_weight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("summary_weight", "risk_points", "risk_drivers", "dedupe_window_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def _in_range(name: str, values: Iterable[float], low: float, high: float) -> None:
    for value in values:
        if not low <= value <= high:
            raise ValueError(f"{name}: {value} is outside [{low}, {high}]")


DEFAULT_PARAMETERS = ModelParameters()
