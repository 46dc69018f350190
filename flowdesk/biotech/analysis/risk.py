"""The company risk score, 0 (no concern) to 100 (acute), updated scan by scan.

Each scan turns the stored score into a new one in two steps::

    decayed = 50 + (previous - 50) * 0.5 ** (days since previous / 14)
    impact  = 25 * materiality * (-sentiment)           for each new insight
    score   = clamp(decayed + sum(impacts), 0, 100), rounded to 2 decimals

Without news a score drifts back toward the neutral 50 (what we would say of a company
we know nothing about), halving its distance every 14 days: old news stops counting
unless new news confirms it. Bad news (sentiment < 0) raises the score, good news lowers
it, in proportion to materiality, which already includes the item's own recency decay.
A first score (no previous) starts from 50. `delta` is the change from the previous
stored score (or from 50 for a first score), and `drivers` are the insights with the
largest |impact|, which is what an analyst reads to see why the score moved. The flow
stores every update, so the history of a company's score is the list of its updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.insights import Insight
from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters
from flowdesk.biotech.analysis.scoring import SECONDS_PER_DAY

RISK_MIN = 0.0
RISK_MAX = 100.0


@dataclass(frozen=True)
class RiskDriver:
    """One insight and the points it added to (positive) or took from the score."""

    fingerprint: str
    title: str
    event_type: EventType
    impact: float


@dataclass(frozen=True)
class RiskUpdate:
    score: float
    previous: float | None
    decayed: float  # the previous score after decay, before this scan's news
    delta: float
    drivers: tuple[RiskDriver, ...]
    as_of: datetime

    def to_dict(self) -> dict[str, Any]:
        """The update as JSON-ready values."""
        return {
            "score": self.score,
            "previous": self.previous,
            "decayed": self.decayed,
            "delta": self.delta,
            "drivers": [
                {
                    "fingerprint": d.fingerprint,
                    "title": d.title,
                    "event_type": d.event_type.value,
                    "impact": d.impact,
                }
                for d in self.drivers
            ],
            "as_of": self.as_of.isoformat(),
        }


def insight_impact(insight: Insight, parameters: ModelParameters = DEFAULT_PARAMETERS) -> float:
    """Risk points an insight adds: risk_points x materiality x (-sentiment)."""
    return parameters.risk_points * insight.materiality * -insight.sentiment


def decay_risk(
    previous: float,
    previous_at: datetime,
    now: datetime,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> float:
    """The previous score moved toward the baseline by the half-life decay."""
    days = max(0.0, (now - previous_at).total_seconds() / SECONDS_PER_DAY)
    kept = 0.5 ** (days / parameters.risk_half_life_days)
    return float(parameters.risk_baseline + (previous - parameters.risk_baseline) * kept)


def update_risk(
    previous: float | None,
    insights: Sequence[Insight],
    now: datetime,
    previous_at: datetime | None,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> RiskUpdate:
    """The new risk score: the previous one decayed, moved by each new insight's impact."""
    if now.tzinfo is None:
        raise ValueError(f"now {now!r} has no time zone")
    if previous is None:
        decayed = parameters.risk_baseline
    else:
        if not RISK_MIN <= previous <= RISK_MAX:
            raise ValueError(f"previous risk {previous} is outside [0, 100]")
        if previous_at is None:
            raise ValueError("a previous risk score needs the time it was computed")
        decayed = decay_risk(previous, previous_at, now, parameters)
    impacts = [(insight_impact(insight, parameters), insight) for insight in insights]
    score = round(max(RISK_MIN, min(RISK_MAX, decayed + sum(i for i, _ in impacts))), 2)
    reference = parameters.risk_baseline if previous is None else previous
    ranked = sorted(
        (pair for pair in impacts if round(pair[0], 2) != 0),
        key=lambda pair: (-abs(pair[0]), pair[1].published_at, pair[1].fingerprint),
    )
    drivers = tuple(
        RiskDriver(insight.fingerprint, insight.title, insight.event_type, round(impact, 2))
        for impact, insight in ranked[: parameters.risk_drivers]
    )
    return RiskUpdate(score, previous, round(decayed, 2), round(score - reference, 2), drivers, now)
