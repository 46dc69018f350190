"""Filter criteria a screener run accepts, and the ticker format."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Exchange tickers as the desk writes them: BRK.B, BF-B, 7203.T, BTC-USD.
TICKER_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]{0,14}$"
TICKER_RE = re.compile(TICKER_PATTERN)

Ticker = Annotated[str, Field(pattern=TICKER_PATTERN, examples=["AAPL", "BRK.B"])]

NonNegative = Annotated[float, Field(ge=0)]


class FilterCriteria(BaseModel):
    """The seed's screening criteria; each one is optional and every given one must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    market_cap_min: NonNegative | None = Field(None, description="Market capitalisation, USD.")
    market_cap_max: NonNegative | None = Field(None, description="Market capitalisation, USD.")
    pe_ratio_min: float | None = Field(None, description="Trailing price / earnings.")
    pe_ratio_max: float | None = Field(None, description="Trailing price / earnings.")
    pb_ratio_max: float | None = Field(None, description="Price / book value.")
    debt_to_equity_max: float | None = Field(None, description="Total debt / equity, a ratio.")
    return_on_equity_min: float | None = Field(None, description="A fraction: 0.15 is 15 %.")
    revenue_growth_min: float | None = Field(None, description="Year on year, a fraction.")
    profit_margin_min: float | None = Field(None, description="Net margin, a fraction.")
    dividend_yield_min: NonNegative | None = Field(None, description="A fraction: 0.02 is 2 %.")
    beta_max: float | None = Field(None, description="Five-year monthly beta to the market.")
    volume_min: NonNegative | None = Field(None, description="Average daily volume, shares.")

    @model_validator(mode="after")
    def _ranges(self) -> FilterCriteria:
        for low, high in (("market_cap_min", "market_cap_max"), ("pe_ratio_min", "pe_ratio_max")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is greater than {high} ({hi})")
        return self

    def given(self) -> dict[str, float]:
        """The criteria that were set, by name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


CRITERIA_NAMES: tuple[str, ...] = tuple(FilterCriteria.model_fields)
