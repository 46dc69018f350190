"""The entry point: one company's new news items in, insights and a risk update out.

`analyze` runs the model's steps in order, each in its own module:

1. dedupe.py: drop stories already stored and duplicates within the batch;
2. events.py: classify each remaining item (event type, evidence, confidence);
3. sentiment.py: score its sentiment from the event prior and the lexicon;
4. scoring.py: score its materiality and decide whether it is an alert, and how loud;
5. risk.py: decay the company's previous risk score and move it by the new insights.

It is pure: no clock (the caller passes `now`), no I/O, no randomness, so the same
arguments always give the same result, and a stored result can be recomputed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowdesk.biotech.analysis.dedupe import dedupe
from flowdesk.biotech.analysis.events import classify
from flowdesk.biotech.analysis.insights import Insight
from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters
from flowdesk.biotech.analysis.risk import RiskUpdate, update_risk
from flowdesk.biotech.analysis.scoring import assess_significance, score_materiality
from flowdesk.biotech.analysis.sentiment import score_sentiment
from flowdesk.biotech.items import NewsItem, Priority


@dataclass(frozen=True)
class AnalysisResult:
    company_id: str
    analyzed_at: datetime
    model_version: str
    received: int  # items passed in
    duplicates: int  # of those, dropped as already seen or duplicated in the batch
    insights: tuple[Insight, ...]  # one per new story, earliest published first
    risk: RiskUpdate

    @property
    def alerts(self) -> tuple[Insight, ...]:
        """The insights that are alerts."""
        return tuple(insight for insight in self.insights if insight.is_alert)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return {
            "company_id": self.company_id,
            "analyzed_at": self.analyzed_at.isoformat(),
            "model_version": self.model_version,
            "received": self.received,
            "duplicates": self.duplicates,
            "alerts": len(self.alerts),
            "insights": [insight.to_dict() for insight in self.insights],
            "risk": self.risk.to_dict(),
        }


def analyze_item(
    item: NewsItem,
    *,
    priority: Priority,
    now: datetime,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> Insight:
    """One item scored: event, sentiment, materiality and alert."""
    event = classify(item.title, item.summary)
    sentiment = score_sentiment(item.title, item.summary, event.event_type, parameters)
    materiality = score_materiality(
        event.event_type, event.confidence, item.published_at, now, parameters
    )
    significance = assess_significance(
        event.event_type, sentiment.score, materiality, priority, parameters
    )
    return Insight(
        fingerprint=item.fingerprint,
        company_id=item.company_id,
        source=item.source,
        title=item.title,
        url=item.url,
        published_at=item.published_at,
        event_type=event.event_type,
        confidence=event.confidence,
        evidence=event.evidence,
        sentiment=sentiment.score,
        sentiment_prior=sentiment.prior,
        sentiment_terms=sentiment.terms,
        materiality=materiality,
        is_alert=significance.is_alert,
        severity=significance.severity,
        model_version=parameters.version,
    )


def analyze(
    items: Sequence[NewsItem],
    *,
    company_id: str,
    priority: Priority,
    seen_fingerprints: Collection[str],
    previous_risk: float | None,
    previous_risk_at: datetime | None,
    now: datetime,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> AnalysisResult:
    """One company's scan: de-duplicated items as insights, and its updated risk score."""
    if now.tzinfo is None:
        raise ValueError(f"now {now!r} has no time zone")
    strangers = sorted({i.company_id for i in items if i.company_id.upper() != company_id.upper()})
    if strangers:
        raise ValueError(f"items for {', '.join(strangers)} passed to the scan of {company_id}")
    fresh = dedupe(items, seen_fingerprints, parameters)
    insights = tuple(
        analyze_item(item, priority=priority, now=now, parameters=parameters) for item in fresh
    )
    risk = update_risk(previous_risk, insights, now, previous_risk_at, parameters)
    return AnalysisResult(
        company_id=company_id,
        analyzed_at=now,
        model_version=parameters.version,
        received=len(items),
        duplicates=len(items) - len(fresh),
        insights=insights,
        risk=risk,
    )
