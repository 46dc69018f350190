"""YFinanceProvider: mapping Yahoo's ``.info`` payload onto the fundamentals table."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flowdesk.marketdata import MarketDataError, YFinanceProvider, get_provider
from flowdesk.marketdata.base import FUNDAMENTAL_COLUMNS, NUMERIC_COLUMNS, conform
from flowdesk.marketdata.yfinance_provider import map_info, yfinance_installed
from flowdesk.settings import Settings

# A sample of the real `yf.Ticker("AAPL").info` payload shape (2025, after Yahoo moved
# dividendYield to percent): the keys, types and units as yfinance returns them, trimmed of
# company-officer and long-text fields. It is a fixture for the mapping, not market data.
AAPL_INFO: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "yfinance_info_AAPL.json").read_text()
)


def info(**changes: Any) -> dict[str, Any]:
    """The AAPL payload with keys replaced, or removed when given None."""
    changed = {**AAPL_INFO, **changes}
    return {k: v for k, v in changed.items() if v is not None}


class TestMapInfo:
    def test_recorded_aapl_payload_maps_every_column(self) -> None:
        row = map_info("aapl", AAPL_INFO)

        assert row == {
            "ticker": "AAPL",
            "name": "Apple Inc.",
            "sector": "Technology",
            "price": 228.08,
            "market_cap": 3398453755904.0,
            "pe_ratio": 34.88,
            "pb_ratio": 51.45,
            "debt_to_equity": pytest.approx(1.54486),  # 154.486 % as a ratio
            "return_on_equity": 1.4981,  # already a fraction: 150 %
            "revenue_growth": 0.096,
            "profit_margin": 0.24301,
            "dividend_yield": 0.004481,  # trailingAnnualDividendYield, a fraction
            "beta": 1.211,
            "volume": 54830211.0,
            "as_of": "2025-08-21",  # regularMarketTime 1755806401, UTC
        }

    def test_sub_one_percent_dividend_yield_is_read_as_percent(self) -> None:
        # 0.45 means 0.45 %: a "> 1 means percent" guard would have kept it as 45 %.
        row = map_info("AAPL", info(trailingAnnualDividendYield=None))

        assert row["dividend_yield"] == pytest.approx(0.0045)

    def test_high_dividend_yield_without_trailing_is_read_as_percent(self) -> None:
        row = map_info("ENB", info(trailingAnnualDividendYield=None, dividendYield=6.48))

        assert row["dividend_yield"] == pytest.approx(0.0648)

    def test_trailing_yield_in_another_currency_is_not_trusted(self) -> None:
        # Shell in London: quoted in pence, reports in dollars; Yahoo's trailing yield
        # divides a dollar dividend by a pence price and comes out 100x too small.
        payload = info(
            currency="GBp",
            financialCurrency="USD",
            dividendYield=4.0,
            trailingAnnualDividendYield=0.00054,
        )

        assert map_info("SHEL.L", payload)["dividend_yield"] == pytest.approx(0.04)

    def test_no_dividend_fields_give_none(self) -> None:
        payload = info(dividendYield=None, trailingAnnualDividendYield=None)

        assert map_info("AAPL", payload)["dividend_yield"] is None

    def test_price_and_name_fall_back_to_the_regular_market_fields(self) -> None:
        row = map_info("AAPL", info(currentPrice=None, longName=None))

        assert (row["price"], row["name"]) == (228.08, "Apple Inc.")
        assert map_info("X", {"regularMarketPrice": 3.0, "shortName": "X Co"})["name"] == "X Co"

    @pytest.mark.parametrize("value", ["Infinity", None, float("nan"), True, "n/a"])
    def test_values_that_are_not_finite_numbers_become_none(self, value: Any) -> None:
        assert map_info("AAPL", {**AAPL_INFO, "trailingPE": value})["pe_ratio"] is None

    def test_unknown_symbol_payload_maps_to_an_empty_row(self) -> None:
        row = map_info("NOPE", {"trailingPegRatio": None})

        assert row["ticker"] == "NOPE"
        assert all(row[c] is None for c in FUNDAMENTAL_COLUMNS)

    def test_mapped_rows_fit_the_fundamentals_table(self) -> None:
        rows = [map_info("AAPL", AAPL_INFO), map_info("NOPE", {})]

        frame = conform(pd.DataFrame(rows, columns=["ticker", *FUNDAMENTAL_COLUMNS]), "test")

        assert all(frame[c].dtype == "float64" for c in NUMERIC_COLUMNS)
        assert frame.loc["AAPL", "debt_to_equity"] == pytest.approx(1.54486)


class _FakeTicker:
    """Yahoo at the edge: AAPL answers the recorded payload, FAIL raises, others are unknown."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    @property
    def info(self) -> dict[str, Any]:
        if self.symbol == "FAIL":
            raise ConnectionError("HTTP Error 429: Too Many Requests")
        return AAPL_INFO if self.symbol == "AAPL" else {"trailingPegRatio": None}


@pytest.fixture
def fake_yfinance(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("yfinance")
    module.__spec__ = importlib.machinery.ModuleSpec("yfinance", loader=None)
    module.Ticker = _FakeTicker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yfinance", module)


@pytest.mark.usefixtures("fake_yfinance")
class TestYFinanceProvider:
    def test_failed_and_unknown_tickers_are_missing(self) -> None:
        data = YFinanceProvider(max_workers=2).fundamentals(["aapl", "FAIL", "NOPE"])

        assert list(data.frame.index) == ["AAPL"]
        assert data.missing == ["FAIL", "NOPE"]
        assert (data.source, data.is_sample, data.as_of) == ("yfinance", False, "2025-08-21")

    def test_every_ticker_failing_is_an_error(self) -> None:
        with pytest.raises(MarketDataError, match="no data for any of 2 tickers"):
            YFinanceProvider().fundamentals(["FAIL", "NOPE"])

    def test_no_tickers_gives_an_empty_table(self) -> None:
        data = YFinanceProvider().fundamentals([])

        assert data.frame.empty
        assert tuple(data.frame.columns) == FUNDAMENTAL_COLUMNS


@pytest.mark.skipif(yfinance_installed(), reason="yfinance is installed here")
class TestYFinanceNotInstalled:
    def test_choosing_yfinance_without_the_extra_says_how_to_install(self) -> None:
        settings = Settings(market_data_provider="yfinance")

        with pytest.raises(MarketDataError, match=r"pip install 'flowdesk\[live\]'"):
            get_provider(settings)
