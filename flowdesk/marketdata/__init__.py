"""Market data: the fundamentals table, its providers, and the one place that picks a provider.

    MarketDataProvider (Protocol)
    ├── FileProvider       a CSV/Parquet snapshot; the default, and what tests and the sample use
    └── YFinanceProvider   live Yahoo Finance, with the optional extra flowdesk[live]

Every provider raises MarketDataError (a FlowdeskError) when it cannot deliver at all, and
lists tickers it has no data for in ``Fundamentals.missing``.
"""

from __future__ import annotations

from flowdesk.marketdata.base import (
    FUNDAMENTAL_COLUMNS,
    NUMERIC_COLUMNS,
    Fundamentals,
    MarketDataError,
    MarketDataProvider,
)
from flowdesk.marketdata.file_provider import FileProvider
from flowdesk.marketdata.yfinance_provider import YFinanceProvider
from flowdesk.settings import Settings

__all__ = [
    "FUNDAMENTAL_COLUMNS",
    "NUMERIC_COLUMNS",
    "FileProvider",
    "Fundamentals",
    "MarketDataError",
    "MarketDataProvider",
    "YFinanceProvider",
    "get_provider",
]


def get_provider(settings: Settings) -> MarketDataProvider:
    """The provider ``settings.market_data_provider`` names (FLOWDESK_MARKET_DATA_PROVIDER)."""
    if settings.market_data_provider == "yfinance":
        # Raises MarketDataError with the install hint when the extra is absent.
        return YFinanceProvider()
    return FileProvider(settings.market_data_path)
