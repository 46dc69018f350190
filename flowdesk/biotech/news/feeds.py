"""RSS 2.0 and Atom feeds: ``parse_feed`` turns one into NewsItems, ``RssSource`` reads URLs.

Attribution: an entry belongs to every company its title or summary names (by name,
alias or ticker, see ``CompanyRegistry.match``). A company's own feed passes
``default_company``: its entries are that company's whatever they say, and also those of
any other company they name. An entry of a shared feed that names no company is dropped.

Dates: the entry's published date, else its updated date, in UTC. An entry with neither
is skipped with a warning rather than given the feed's date: a guessed date would make an
old story look new on every scan.

feedparser has no type hints; ``_read`` is the one place its untyped objects are touched.
"""

from __future__ import annotations

import calendar
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import feedparser  # untyped: pyproject lists it under ignore_missing_imports
import httpx

from flowdesk.biotech.companies import Company, CompanyRegistry
from flowdesk.biotech.items import NewsItem
from flowdesk.biotech.news.base import FeedError, direct_call, http_get, select
from flowdesk.resilience import OutboundCall

logger = logging.getLogger(__name__)

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "tr", "td", "h1", "h2", "h3", "h4", "blockquote"}
_SPACES = re.compile(r"\s+")


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment; block tags become spaces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """The text of an HTML fragment, entities decoded and whitespace collapsed."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return _SPACES.sub(" ", "".join(parser.parts)).strip()


@dataclass(frozen=True)
class _Entry:
    title: str
    summary: str
    link: str | None
    guid: str | None
    published: datetime | None


def _utc(parsed: Any) -> datetime | None:
    # feedparser gives dates as UTC time.struct_time, whatever offset the feed wrote.
    return None if parsed is None else datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def _read(content: bytes, source: str) -> list[_Entry]:
    """The entries of a feed as typed values, or FeedError when it is no feed at all."""
    # A stream, never bytes or str: feedparser treats those as a file name or URL to open.
    parsed: Any = feedparser.parse(io.BytesIO(content))
    if not parsed.get("version"):
        problem = parsed.get("bozo_exception") or "no RSS or Atom root element"
        raise FeedError(f"{source}: not an RSS or Atom feed ({problem})")
    if parsed.get("bozo"):
        logger.warning(
            "%s: malformed feed (%s); using the %d entries read",
            source,
            parsed.get("bozo_exception"),
            len(parsed.entries),
        )
    entries = []
    for raw in parsed.entries:
        content_blocks = raw.get("content") or [{}]
        summary = raw.get("summary") or content_blocks[0].get("value") or ""
        entries.append(
            _Entry(
                title=html_to_text(str(raw.get("title") or "")),
                summary=html_to_text(str(summary)),
                link=str(raw["link"]) if raw.get("link") else None,
                guid=str(raw["id"]) if raw.get("id") else None,
                published=_utc(raw.get("published_parsed") or raw.get("updated_parsed")),
            )
        )
    return entries


def parse_feed(
    content: bytes,
    *,
    source: str,
    companies: CompanyRegistry,
    default_company: str | None = None,
) -> list[NewsItem]:
    """One NewsItem per entry and company it is attributed to, in feed order."""
    if default_company is not None:
        default_company = companies.get(default_company).id
    items: list[NewsItem] = []
    for entry in _read(content, source):
        name = entry.guid or entry.link or entry.title
        if not entry.title:
            logger.warning("%s: entry %s has no title; skipped", source, name)
            continue
        if entry.published is None:
            logger.warning("%s: entry %r has no published or updated date; skipped", source, name)
            continue
        ids = companies.match(f"{entry.title}\n{entry.summary}")
        if default_company is not None:
            ids = [default_company, *(i for i in ids if i != default_company)]
        elif not ids:
            logger.debug("%s: entry %r names no company; dropped", source, name)
        items += [
            NewsItem(
                source=source,
                company_id=company_id,
                title=entry.title,
                summary=entry.summary,
                published_at=entry.published,
                url=entry.link,
                guid=entry.guid,
            )
            for company_id in ids
        ]
    return items


class RssSource:
    """A company's own feeds plus the shared feeds, fetched over HTTP through ``call``.

    A shared feed is fetched once per ``shared_ttl_seconds`` and reused for every company:
    a quick scan of 30 companies would otherwise download each wire 30 times.
    """

    name = "rss"

    def __init__(
        self,
        companies: CompanyRegistry,
        *,
        timeout: float,
        client: httpx.AsyncClient | None = None,
        call: OutboundCall = direct_call,
        shared_ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.companies = companies
        self.timeout = timeout
        self.client = client
        self.call = call
        self.shared_ttl_seconds = shared_ttl_seconds
        self._clock = clock
        self._shared: dict[str, tuple[float, list[NewsItem]]] = {}

    async def _read(self, url: str, default_company: str | None) -> list[NewsItem]:
        response = await http_get(
            url,
            what=f"feed {url}",
            timeout=self.timeout,
            call=self.call,
            client=self.client,
            accept=FEED_ACCEPT,
        )
        return parse_feed(
            response.content,
            source=f"rss:{url}",
            companies=self.companies,
            default_company=default_company,
        )

    async def _read_shared(self, url: str) -> list[NewsItem]:
        cached = self._shared.get(url)
        if cached is not None and self._clock() - cached[0] < self.shared_ttl_seconds:
            return cached[1]
        items = await self._read(url, None)
        self._shared[url] = (self._clock(), items)
        return items

    async def fetch(self, company: Company, since: datetime | None) -> list[NewsItem]:
        """The company's items from its feeds and the shared feeds, newest first."""
        items: list[NewsItem] = []
        for url in company.feeds:
            items += await self._read(url, company.id)
        for url in self.companies.shared_feeds:
            items += await self._read_shared(url)
        return select(items, company.id, since)
