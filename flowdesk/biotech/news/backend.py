"""The seed's Backend API as a news source, under a contract flowdesk defines.

The seed names the API (API_BASE_URL, API_TIMEOUT) but not its routes, so this is the
contract a backend must serve::

    GET {API_BASE_URL}/api/companies/{id}/news?since=2026-11-20T06:00:00+00:00
    200 application/json
    {"items": [{"id": "bk-20931",
                "title": "Gilead ...",
                "summary": "..." | null,
                "url": "https://..." | null,
                "published_at": "2026-11-20T07:15:00+00:00"}]}

- ``since`` (ISO 8601, UTC) is left out to ask for everything; the API returns items
  published at or after it, in any order. The source re-checks both.
- ``id`` is the API's stable id for the story (a number is accepted as text); ``title``
  is not empty; ``summary`` and ``url`` may be null or absent; ``published_at`` carries
  its UTC offset. Keys the contract does not name are ignored, so the API may add some.
- Each request times out after API_TIMEOUT seconds. A non-2xx answer or an unreachable
  API raises NewsSourceError (after the injected ``call`` gave up); a 2xx body that
  breaks the contract raises BackendApiError naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from flowdesk.biotech.companies import Company
from flowdesk.biotech.items import NewsItem
from flowdesk.biotech.news.base import (
    BackendApiError,
    direct_call,
    http_get,
    select,
)
from flowdesk.resilience import OutboundCall


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    summary: str | None = None
    url: str | None = None
    published_at: AwareDatetime


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[_Item]


class BackendApiSource:
    """News for one company at a time from ``GET /api/companies/{id}/news``."""

    name = "backend"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        client: httpx.AsyncClient | None = None,
        call: OutboundCall = direct_call,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client = client
        self.call = call

    def url_for(self, company_id: str) -> str:
        """The news URL of one company."""
        return f"{self.base_url}/api/companies/{quote(company_id, safe='')}/news"

    async def fetch(self, company: Company, since: datetime | None) -> list[NewsItem]:
        """The company's items published at or after ``since``, newest first."""
        if since is not None and since.tzinfo is None:
            raise ValueError(f"since {since!r} has no time zone")
        url = self.url_for(company.id)
        params = {"since": since.astimezone(UTC).isoformat()} if since is not None else None
        response = await http_get(
            url,
            what=f"backend API (news of {company.id})",
            timeout=self.timeout,
            call=self.call,
            client=self.client,
            params=params,
            accept="application/json",
        )
        try:
            body = _Body.model_validate_json(response.content)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise BackendApiError(
                f"backend API: GET {response.request.url} answered {response.status_code} with "
                f"a body that breaks the news contract ({problems})"
            ) from exc
        items = [
            NewsItem(
                source="backend",
                company_id=company.id,
                title=item.title,
                summary=item.summary or "",
                published_at=item.published_at,
                url=item.url,
                guid=item.id,
            )
            for item in body.items
        ]
        return select(items, company.id, since)
