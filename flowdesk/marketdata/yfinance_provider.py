"""Live fundamentals from Yahoo Finance through yfinance, the optional extra ``flowdesk[live]``.

Units as Yahoo's ``Ticker.info`` payload gives them, and what ``map_info`` makes of them:

- ``returnOnEquity``, ``revenueGrowth``, ``profitMargins``: fractions already (AAPL's ROE
  is about 1.5, i.e. 150 %, so "> 1" says nothing about units for these).
- ``debtToEquity``: percent (AAPL about 150 means 1.5) -> divided by 100.
- ``dividendYield``: percent since Yahoo changed it in 2025 (AAPL 0.45 means 0.45 %).
  A "> 1 means percent" test misreads every yield under 1 % as 45 % and more, so it is
  not used. ``trailingAnnualDividendYield`` is a fraction and is preferred; Yahoo computes
  it in the reporting currency, so when ``financialCurrency`` differs from the quote
  ``currency`` (ADRs, GBp quotes) it is wrong by the exchange rate and
  ``dividendYield / 100`` is used instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pandas as pd

from flowdesk.marketdata.base import (
    FUNDAMENTAL_COLUMNS,
    Fundamentals,
    MarketDataError,
    conform,
    empty_frame,
    latest_as_of,
    normalise_tickers,
)

log = logging.getLogger(__name__)

# Each .info call is one HTTPS round trip of 0.3-1 s; 8 in flight keeps a 100-ticker set
# near 10 s without the burst that gets Yahoo to answer 429.
DEFAULT_WORKERS = 8
INSTALL_HINT = "pip install 'flowdesk[live]'"


def yfinance_installed() -> bool:
    return importlib.util.find_spec("yfinance") is not None


def _import_yfinance() -> ModuleType:
    try:
        return importlib.import_module("yfinance")
    except ImportError as exc:
        raise MarketDataError(
            f"market data provider 'yfinance' needs the yfinance package: {INSTALL_HINT}"
        ) from exc


def _number(value: Any) -> float | None:
    """A finite float, or None: Yahoo sends None, 'Infinity' (trailingPE) and bools too."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _per_hundred(value: float | None) -> float | None:
    return None if value is None else value / 100


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _dividend_yield(info: Mapping[str, Any]) -> float | None:
    trailing = _number(info.get("trailingAnnualDividendYield"))
    currency, reporting = info.get("currency"), info.get("financialCurrency")
    same_currency = currency is None or reporting is None or currency == reporting
    if trailing is not None and same_currency:
        return trailing
    return _per_hundred(_number(info.get("dividendYield")))


def _as_of(info: Mapping[str, Any]) -> str | None:
    stamp = _number(info.get("regularMarketTime"))
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=UTC).date().isoformat()


def map_info(ticker: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the fundamentals table (``ticker`` plus FUNDAMENTAL_COLUMNS) from ``.info``."""
    price = _number(info.get("currentPrice"))
    if price is None:
        price = _number(info.get("regularMarketPrice"))
    return {
        "ticker": ticker.upper(),
        "name": _text(info.get("longName")) or _text(info.get("shortName")),
        "sector": _text(info.get("sector")),
        "price": price,
        "market_cap": _number(info.get("marketCap")),
        "pe_ratio": _number(info.get("trailingPE")),
        "pb_ratio": _number(info.get("priceToBook")),
        "debt_to_equity": _per_hundred(_number(info.get("debtToEquity"))),
        "return_on_equity": _number(info.get("returnOnEquity")),
        "revenue_growth": _number(info.get("revenueGrowth")),
        "profit_margin": _number(info.get("profitMargins")),
        "dividend_yield": _dividend_yield(info),
        "beta": _number(info.get("beta")),
        "volume": _number(info.get("averageVolume")),
        "as_of": _as_of(info),
    }


def _has_data(row: Mapping[str, Any]) -> bool:
    # Yahoo answers an unknown symbol with a near-empty dict ({"trailingPegRatio": None}),
    # not an error: no price and no market cap means it has nothing on the ticker.
    return row["price"] is not None or row["market_cap"] is not None


class YFinanceProvider:
    """Calls ``yf.Ticker(t).info`` per ticker; a ticker whose call fails is reported missing."""

    name = "yfinance"

    def __init__(self, max_workers: int = DEFAULT_WORKERS) -> None:
        if not yfinance_installed():
            raise MarketDataError(
                f"FLOWDESK_MARKET_DATA_PROVIDER=yfinance but yfinance is not installed: "
                f"{INSTALL_HINT}"
            )
        self.max_workers = max_workers

    def fundamentals(self, tickers: Sequence[str]) -> Fundamentals:
        yf = _import_yfinance()
        wanted = normalise_tickers(tickers)

        def fetch(ticker: str) -> dict[str, Any] | None:
            try:
                info = yf.Ticker(ticker).info
            except Exception:  # yfinance raises anything from HTTPError to KeyError
                log.warning("yfinance: fetching %s failed", ticker, exc_info=True)
                return None
            row = map_info(ticker, info or {})
            return row if _has_data(row) else None

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            results = list(pool.map(fetch, wanted))
        rows = [row for row in results if row is not None]
        missing = [t for t, row in zip(wanted, results, strict=True) if row is None]
        if wanted and not rows:
            # Every ticker failing is an outage or a block (HTTP 429), not missing data.
            raise MarketDataError(
                f"yfinance returned no data for any of {len(wanted)} tickers "
                f"(first: {', '.join(wanted[:5])}); Yahoo may be down or rate-limiting"
            )
        frame = (
            conform(pd.DataFrame(rows, columns=["ticker", *FUNDAMENTAL_COLUMNS]), "yfinance")
            if rows
            else empty_frame()
        )
        return Fundamentals(
            frame=frame,
            missing=missing,
            source=self.name,
            is_sample=False,
            as_of=latest_as_of(frame),
        )
