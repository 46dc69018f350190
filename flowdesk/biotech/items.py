"""The two values every part of the biotech desk shares: a company's priority and a news item."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit


class Priority(StrEnum):
    """How closely a company is watched: priority companies also get the hourly quick scan."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]")


def normalize_title(title: str) -> str:
    """Lower-case words only: the same headline from two feeds compares equal."""
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", title.casefold())).strip()


def canonical_url(url: str) -> str:
    """The URL without query, fragment, trailing slash or scheme differences."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit(("https", parts.netloc.lower().removeprefix("www."), path, "", ""))


@dataclass(frozen=True)
class NewsItem:
    """One news item about one company, as a source delivered it.

    `fingerprint` identifies the story: the same headline about the same company is one
    item however many feeds carry it, so a re-scan or a second feed adds nothing.
    """

    source: str
    company_id: str
    title: str
    summary: str
    published_at: datetime
    url: str | None = None
    guid: str | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError(f"published_at {self.published_at!r} has no time zone")
        object.__setattr__(self, "published_at", self.published_at.astimezone(UTC))
        key = f"{self.company_id.upper()}\n{normalize_title(self.title)}"
        object.__setattr__(self, "fingerprint", hashlib.sha256(key.encode()).hexdigest()[:32])
