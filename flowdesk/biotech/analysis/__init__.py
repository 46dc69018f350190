"""The news analysis model: news items in, insights, alerts and a risk score out.

Plain Python, deterministic, every number explained in docs/analysis-model.md. Call
`analyze` once per company per scan; the flow stores the result.
"""

from flowdesk.biotech.analysis.dedupe import dedupe
from flowdesk.biotech.analysis.event_rules import RULES, EventType
from flowdesk.biotech.analysis.events import Classification, Evidence, classify
from flowdesk.biotech.analysis.insights import Insight
from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters
from flowdesk.biotech.analysis.pipeline import AnalysisResult, analyze, analyze_item
from flowdesk.biotech.analysis.risk import RiskDriver, RiskUpdate, update_risk
from flowdesk.biotech.analysis.scoring import Severity, assess_significance, score_materiality
from flowdesk.biotech.analysis.sentiment import Sentiment, SentimentTerm, score_sentiment

__all__ = [
    "DEFAULT_PARAMETERS",
    "RULES",
    "AnalysisResult",
    "Classification",
    "EventType",
    "Evidence",
    "Insight",
    "ModelParameters",
    "RiskDriver",
    "RiskUpdate",
    "Sentiment",
    "SentimentTerm",
    "Severity",
    "analyze",
    "analyze_item",
    "assess_significance",
    "classify",
    "dedupe",
    "score_materiality",
    "score_sentiment",
    "update_risk",
]
