"""The insight: one analysed news item, with everything needed to explain its numbers.

An insight keeps the item's identity (fingerprint, company, source, title, url,
published_at), what the model concluded (event type, sentiment, materiality, alert,
severity) and why (the event-rule evidence, the classifier confidence, the sentiment
prior and lexicon terms). `to_dict` is the JSON form the flow stores and puts in the run's
artifact: enums as their values, datetimes as ISO 8601 strings, tuples as lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.events import Evidence
from flowdesk.biotech.analysis.scoring import Severity
from flowdesk.biotech.analysis.sentiment import SentimentTerm


@dataclass(frozen=True)
class Insight:
    """One news item as the model scored it."""

    fingerprint: str
    company_id: str
    source: str
    title: str
    url: str | None
    published_at: datetime
    event_type: EventType
    confidence: float
    evidence: tuple[Evidence, ...]
    sentiment: float
    sentiment_prior: float
    sentiment_terms: tuple[SentimentTerm, ...]
    materiality: float
    is_alert: bool
    severity: Severity | None
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        """The insight as JSON-ready values."""
        return {
            "fingerprint": self.fingerprint,
            "company_id": self.company_id,
            "source": self.source,
            "title": self.title,
            "url": self.url,
            "published_at": self.published_at.isoformat(),
            "event_type": self.event_type.value,
            "confidence": self.confidence,
            "evidence": [
                {"rule": ev.rule, "field": ev.field, "text": ev.text} for ev in self.evidence
            ],
            "sentiment": self.sentiment,
            "sentiment_prior": self.sentiment_prior,
            "sentiment_terms": [
                {"text": t.text, "field": t.field, "contribution": t.contribution}
                for t in self.sentiment_terms
            ],
            "materiality": self.materiality,
            "is_alert": self.is_alert,
            "severity": self.severity.value if self.severity is not None else None,
            "model_version": self.model_version,
        }
