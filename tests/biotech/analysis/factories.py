"""Plain functions that build news items for the analysis tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flowdesk.biotech.items import NewsItem

NOW = datetime(2025, 10, 28, 12, 0, tzinfo=UTC)


def news(
    title: str,
    summary: str = "",
    *,
    hours_ago: float = 0,
    company_id: str = "NTLA",
    source: str = "test_feed",
    url: str | None = None,
) -> NewsItem:
    """A news item published `hours_ago` before NOW."""
    return NewsItem(
        source=source,
        company_id=company_id,
        title=title,
        summary=summary,
        published_at=NOW - timedelta(hours=hours_ago),
        url=url,
    )
