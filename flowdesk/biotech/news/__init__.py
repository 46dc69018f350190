"""Where the biotech desk's news comes from: sample files, RSS/Atom feeds or the Backend API."""

from flowdesk.biotech.news.backend import BackendApiSource
from flowdesk.biotech.news.base import (
    BackendApiError,
    FeedError,
    NewsSource,
    NewsSourceError,
    Request,
    direct_call,
)
from flowdesk.biotech.news.feeds import RssSource, parse_feed
from flowdesk.biotech.news.sample import SampleFeedSource
from flowdesk.biotech.news.sources import get_news_source
from flowdesk.resilience import OutboundCall

__all__ = [
    "BackendApiError",
    "BackendApiSource",
    "FeedError",
    "NewsSource",
    "NewsSourceError",
    "OutboundCall",
    "Request",
    "RssSource",
    "SampleFeedSource",
    "direct_call",
    "get_news_source",
    "parse_feed",
]
