"""A screener run: fundamentals for the snapshot's tickers, filtered, scored and ranked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowdesk.artifacts import write_artifact
from flowdesk.marketdata import MarketDataProvider, get_provider
from flowdesk.marketdata.file_provider import FileProvider
from flowdesk.screening.criteria import FilterCriteria
from flowdesk.screening.engine import ScreenResult, result_to_csv, screen, summary_text
from flowdesk.settings import get_settings


@dataclass(frozen=True)
class ScreenerOutcome:
    result: ScreenResult
    summary: dict[str, Any]
    artifacts: list[dict[str, Any]]


def provider_for(snapshot: dict[str, Any]) -> MarketDataProvider:
    """The provider the snapshot names (its file, for the file provider)."""
    market_data = snapshot["market_data"]
    if market_data["provider"] == "file":
        return FileProvider(Path(market_data["path"]))
    settings = get_settings().model_copy(update={"market_data_provider": market_data["provider"]})
    return get_provider(settings)


def run_screener(run_id: str, snapshot: dict[str, Any]) -> ScreenerOutcome:
    """Execute a screener snapshot and write its CSV, JSON and summary artifacts."""
    criteria = FilterCriteria.model_validate(snapshot["filter_criteria"])
    fundamentals = provider_for(snapshot).fundamentals(snapshot["tickers"])
    result = screen(fundamentals, criteria, snapshot["top_n"])
    summary = {
        "screened": result.screened,
        "passed": result.passed,
        "returned": len(result.rows),
        "missing": result.missing,
        "top": [row["ticker"] for row in result.rows[:5]],
        "data_source": fundamentals.source,
        "sample_data": fundamentals.is_sample,
        "data_as_of": fundamentals.as_of,
    }
    document = {
        "run_id": run_id,
        "summary": summary,
        "criteria": criteria.given(),
        "rows": result.rows,
    }
    artifacts = [
        write_artifact(run_id, "results.csv", result_to_csv(result)),
        write_artifact(run_id, "results.json", json.dumps(document, indent=2, default=str)),
        write_artifact(run_id, "summary.txt", summary_text(result, criteria)),
    ]
    return ScreenerOutcome(result=result, summary=summary, artifacts=artifacts)
