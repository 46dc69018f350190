"""The body of a screener submission."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.runs.schemas import Priority
from flowdesk.screening.criteria import FilterCriteria, Ticker

SET_NAME = r"^[a-z][a-z0-9_]{1,63}$"


class ScreenerRunRequest(BaseModel):
    """Screen a named set or an explicit ticker list, with criteria and/or a preset."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "screener_set": "tech_majors",
                    "filter_criteria": {
                        "market_cap_min": 1_000_000_000,
                        "pe_ratio_max": 25,
                        "return_on_equity_min": 0.15,
                    },
                    "top_n": 20,
                },
                {"tickers": ["AAPL", "MSFT", "NVDA"], "preset": "quality", "top_n": 3},
            ]
        },
    )

    screener_set: str | None = Field(None, pattern=SET_NAME, description="A set name.")
    tickers: list[Ticker] | None = Field(
        None, min_length=1, max_length=5000, description="Instead of a set: the tickers to screen."
    )
    preset: str | None = Field(
        None, pattern=SET_NAME, description="Named criteria; `filter_criteria` overrides them."
    )
    filter_criteria: FilterCriteria = Field(default_factory=FilterCriteria)
    top_n: int = Field(20, ge=1, le=500, description="How many ranked rows to return.")
    priority: Priority = Field("default", description="The Prefect work queue.")

    @model_validator(mode="after")
    def _one_universe(self) -> ScreenerRunRequest:
        if (self.screener_set is None) == (self.tickers is None):
            raise ValueError("give exactly one of 'screener_set' or 'tickers'")
        return self
