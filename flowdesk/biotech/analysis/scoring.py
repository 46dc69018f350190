"""Materiality in [0, 1] and significance: whether an insight is an alert, and how loud.

Materiality says how much an item can move the company, whatever the direction::

    materiality = weight(event) * confidence * 0.5 ** (age_days / 3)

`weight` is the event type's base weight (parameters.EVENT_WEIGHTS), `confidence` where
the classifier found the event (events.py: 1.0 title and summary ... 0.5 no rule), and
the last factor halves materiality every 3 days of age at `now`. An item dated after
`now` (a feed's clock ahead of ours) counts as age 0. All sources weigh the same: the
desk's feeds are curated, and a source factor would be a number nobody can justify yet.

Materiality does not depend on the company's priority: it is a property of the news.
Priority is how closely the desk watches, so it sets how material news must be to alert:

- an item is an alert when its type always alerts (safety, regulatory rejection, failed
  trial, M&A) and its materiality is at least 0.2 (i.e. it is not stale), or when its
  materiality reaches the priority's threshold (high 0.5, medium 0.6, low 0.7) and
  |sentiment| >= 0.3;
- its severity is `critical` when sentiment <= -0.5 and materiality >= 0.7, else
  `warning` when sentiment < 0 or its type always alerts, else `info` (significant good
  news). Items that are not alerts have no severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters
from flowdesk.biotech.items import Priority

SECONDS_PER_DAY = 86_400.0


class Severity(StrEnum):
    """How loudly an alert is raised: critical pages the desk, info only lists."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Significance:
    is_alert: bool
    severity: Severity | None


def age_days(published_at: datetime, now: datetime) -> float:
    """Days from publication to `now`, 0 for items dated in the future."""
    return max(0.0, (now - published_at).total_seconds() / SECONDS_PER_DAY)


def recency_factor(
    published_at: datetime, now: datetime, parameters: ModelParameters = DEFAULT_PARAMETERS
) -> float:
    """0.5 ** (age in days / half-life): 1 when fresh, 0.5 after one half-life."""
    return float(0.5 ** (age_days(published_at, now) / parameters.recency_half_life_days))


def score_materiality(
    event_type: EventType,
    confidence: float,
    published_at: datetime,
    now: datetime,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> float:
    """Event weight x classifier confidence x recency decay, in [0, 1], to 3 decimals."""
    weight = parameters.event_weights[event_type]
    value = weight * confidence * recency_factor(published_at, now, parameters)
    return round(max(0.0, min(1.0, value)), 3)


def assess_significance(
    event_type: EventType,
    sentiment: float,
    materiality: float,
    priority: Priority,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> Significance:
    """Whether the insight is an alert and its severity, by the rules in the module docstring."""
    always = event_type in parameters.always_alert
    is_alert = (always and materiality >= parameters.always_alert_min_materiality) or (
        materiality >= parameters.alert_materiality[priority]
        and abs(sentiment) >= parameters.alert_min_abs_sentiment
    )
    if not is_alert:
        return Significance(False, None)
    if (
        sentiment <= parameters.critical_max_sentiment
        and materiality >= parameters.critical_min_materiality
    ):
        return Significance(True, Severity.CRITICAL)
    if sentiment < 0 or always:
        return Significance(True, Severity.WARNING)
    return Significance(True, Severity.INFO)
