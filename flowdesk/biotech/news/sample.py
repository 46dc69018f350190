"""Sample news read from feed files shipped with the repo: works offline, same parsing as RSS.

The directory (FLOWDESK_NEWS_SAMPLE_DIR, default ``data/sample/news``) holds RSS 2.0 or
Atom files. ``GILD.xml``, named by an upper-case company id, is that company's own feed;
a lower-case name (``industry_wire.xml``) is a shared feed attributed by the companies it
names. A company's items are those of its own file plus those of any file that names it.
Any other file name is a ConfigError, so a typo (``GILDD.xml``) is not read silently as a
shared feed.

The files carry fixed dates, and the model weighs news by its age, so a scan replays them:
with ``replay_at``, every item is moved by the same amount so that the newest one was
published `REPLAY_LEAD` before ``replay_at``. The sample desk then looks the same on any
day, and a test's expectations do not expire.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

from flowdesk.biotech.companies import Company, CompanyRegistry
from flowdesk.biotech.items import NewsItem
from flowdesk.biotech.news.base import select
from flowdesk.biotech.news.feeds import parse_feed
from flowdesk.errors import ConfigError
from flowdesk.screening.criteria import TICKER_RE

Stamp = tuple[int, int]
REPLAY_LEAD = timedelta(hours=1)


class SampleFeedSource:
    """Every ``*.xml`` feed file of one directory, parsed again only when a file changes."""

    name = "sample"

    def __init__(
        self, directory: Path, companies: CompanyRegistry, replay_at: datetime | None = None
    ) -> None:
        if not directory.is_dir():
            raise ConfigError(
                f"news sample directory {directory} does not exist (point "
                "FLOWDESK_NEWS_SAMPLE_DIR at data/sample/news, or choose another "
                "FLOWDESK_NEWS_SOURCE)"
            )
        self.directory = directory
        self.companies = companies
        self.replay_at = replay_at
        self._cache: dict[Path, tuple[Stamp, list[NewsItem]]] = {}
        self.files()  # a misnamed file fails at start-up, not at the first scan

    def files(self) -> list[tuple[Path, str | None]]:
        """Each feed file with the company it belongs to, None for a shared feed."""
        found: list[tuple[Path, str | None]] = []
        for path in sorted(self.directory.glob("*.xml")):
            stem = path.stem
            if TICKER_RE.match(stem) and stem in self.companies:
                found.append((path, stem))
            elif stem == stem.lower() and stem[:1].isalpha():
                found.append((path, None))
            else:
                raise ConfigError(
                    f"{path}: the name is neither a company id in upper case (GILD.xml, for "
                    "a company in companies.yaml) nor a lower-case shared feed name "
                    "(industry_wire.xml); rename it"
                )
        return found

    def _parse(self, path: Path, company_id: str | None) -> list[NewsItem]:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        items = parse_feed(
            path.read_bytes(),
            source=f"sample:{path.name}",
            companies=self.companies,
            default_company=company_id,
        )
        self._cache[path] = (stamp, items)
        return items

    def read_all(self) -> list[NewsItem]:
        """Every item of every file, file by file in name order (replayed, if asked)."""
        items = [item for path, owner in self.files() for item in self._parse(path, owner)]
        if self.replay_at is None or not items:
            return items
        shift = self.replay_at - REPLAY_LEAD - max(item.published_at for item in items)
        return [dataclasses.replace(i, published_at=i.published_at + shift) for i in items]

    async def fetch(self, company: Company, since: datetime | None) -> list[NewsItem]:
        """The company's items across all files, published at or after ``since``, newest first."""
        # Reading synchronously: the shipped directory is about 50 kB and cached after a read.
        return select(self.read_all(), company.id, since)
