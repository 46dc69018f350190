"""Imported once by the warm forkserver (flowdesk.worker.warm.PRELOAD), after the flows:
the market data file is parsed there, so every flow run forked from it finds the table in
the file provider's cache. A run still re-reads the file if it changed on disk since (the
cache is keyed by its mtime and size).
"""

from __future__ import annotations

import logging

from flowdesk.marketdata import get_provider
from flowdesk.marketdata.file_provider import FileProvider
from flowdesk.settings import get_settings

logger = logging.getLogger(__name__)


def warm_market_data() -> None:
    try:
        provider = get_provider(get_settings())
        if isinstance(provider, FileProvider):
            provider.table()
    except Exception as exc:  # a forkserver must start whatever the data; runs report it
        logger.warning("market data not preloaded: %s", exc)


warm_market_data()
