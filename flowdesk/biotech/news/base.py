"""The news-source interface, its errors, and the one seam for outbound HTTP.

Every source answers ``fetch(company, since)`` with that company's items published at or
after ``since``, newest first. A source does not dedupe: two feeds carrying one story give
two items with one ``fingerprint``, and the store keeps one.

Sources that call out over HTTP never retry. Each request is a zero-argument coroutine
function handed to an injected ``call`` (an ``OutboundCall``); the retry, backoff and
circuit-breaker guard is such a ``call``, and ``direct_call`` sends once. The request
raises ``httpx.HTTPStatusError`` for a non-2xx answer inside the thunk, so the guard sees
HTTP failures as well as transport ones.

    NewsSourceError          a source could not deliver news (wraps the httpx error)
    ├── FeedError            the body is not an RSS or Atom feed
    └── BackendApiError      the Backend API's body breaks its contract
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol

import httpx

from flowdesk.biotech.companies import Company
from flowdesk.biotech.items import NewsItem
from flowdesk.errors import FlowdeskError
from flowdesk.resilience import OutboundCall

Request = Callable[[], Awaitable[httpx.Response]]
USER_AGENT = "flowdesk/0.1 (research desk news reader)"


class NewsSourceError(FlowdeskError):
    """A news source could not deliver: unreachable, non-2xx, or a body it cannot read."""


class FeedError(NewsSourceError):
    """A body that should be an RSS or Atom feed is not one."""


class BackendApiError(NewsSourceError):
    """The Backend API answered 2xx with a body that breaks the news contract."""


class NewsSource(Protocol):
    """Where a company's news comes from: sample files, RSS/Atom feeds or the Backend API."""

    name: str

    async def fetch(self, company: Company, since: datetime | None) -> list[NewsItem]:
        """The company's items published at or after ``since`` (all when None), newest first."""
        ...


async def direct_call(request: Request) -> httpx.Response:
    """Send the request once: the default when no retry guard is passed in."""
    return await request()


def select(items: Iterable[NewsItem], company_id: str, since: datetime | None) -> list[NewsItem]:
    """The items of ``company_id`` published at or after ``since``, newest first."""
    if since is not None and since.tzinfo is None:
        raise ValueError(f"since {since!r} has no time zone")
    chosen = [
        item
        for item in items
        if item.company_id == company_id and (since is None or item.published_at >= since)
    ]
    return sorted(chosen, key=lambda item: item.published_at, reverse=True)


async def http_get(
    url: str,
    *,
    what: str,
    timeout: float,
    call: OutboundCall,
    client: httpx.AsyncClient | None = None,
    params: Mapping[str, str] | None = None,
    accept: str = "*/*",
) -> httpx.Response:
    """GET ``url`` through ``call``; any httpx failure becomes a NewsSourceError naming ``what``."""
    headers = {"User-Agent": USER_AGENT, "Accept": accept}

    async def send(http: httpx.AsyncClient) -> httpx.Response:
        async def request() -> httpx.Response:
            response = await http.get(
                url, params=params, headers=headers, timeout=timeout, follow_redirects=True
            )
            response.raise_for_status()
            return response

        return await call(request)

    try:
        if client is not None:
            return await send(client)
        async with httpx.AsyncClient(timeout=timeout) as own:
            return await send(own)
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise NewsSourceError(f"{what}: GET {exc.request.url} answered HTTP {status}") from exc
    except httpx.HTTPError as exc:
        raise NewsSourceError(f"{what}: GET {url} failed ({type(exc).__name__}: {exc})") from exc
