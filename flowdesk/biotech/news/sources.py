"""Choose the news source named by FLOWDESK_NEWS_SOURCE: sample files, RSS, or the Backend API."""

from __future__ import annotations

import re
from datetime import datetime

import httpx

from flowdesk.biotech.companies import CompanyRegistry
from flowdesk.biotech.news.backend import BackendApiSource
from flowdesk.biotech.news.base import NewsSource, direct_call
from flowdesk.biotech.news.feeds import RssSource
from flowdesk.biotech.news.sample import SampleFeedSource
from flowdesk.errors import ConfigError
from flowdesk.resilience import OutboundCall
from flowdesk.settings import Settings


def get_news_source(
    settings: Settings,
    companies: CompanyRegistry,
    *,
    call: OutboundCall = direct_call,
    client: httpx.AsyncClient | None = None,
    name: str | None = None,
    replay_at: datetime | None = None,
) -> NewsSource:
    """The source `name` (default: the configured one); ``call`` wraps each outbound
    request (the retry guard); ``replay_at`` moves the sample feeds' dates to a scan's time."""
    name = name or settings.news_source
    if name == "sample":
        return SampleFeedSource(settings.news_sample_dir, companies, replay_at)
    if name == "rss":
        # API_TIMEOUT is the one outbound timeout the seed defines; feeds use it too.
        return RssSource(companies, timeout=settings.api_timeout, client=client, call=call)
    base_url = settings.api_base_url
    if not base_url:
        raise ConfigError(
            "FLOWDESK_NEWS_SOURCE is 'backend' but API_BASE_URL is not set (set it to the "
            "Backend API, e.g. API_BASE_URL=http://localhost:8000, or use "
            "FLOWDESK_NEWS_SOURCE=sample)"
        )
    if not re.match(r"^https?://[^/\s?#]+", base_url):
        raise ConfigError(
            f"API_BASE_URL {base_url!r} is not an http(s) URL (e.g. http://localhost:8000)"
        )
    return BackendApiSource(base_url, timeout=settings.api_timeout, client=client, call=call)
