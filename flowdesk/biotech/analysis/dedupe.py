"""De-duplication: one insight per story, however many feeds and scans carry it.

Items are taken in a fixed order, earliest published first (ties by source, guid, url,
fingerprint, title), so the same batch gives the same survivors in any input order, and
the survivor of a duplicate group is always its earliest report. An item is dropped when:

1. its fingerprint (company + normalised title, items.py) is in `seen_fingerprints` (the
   stories already stored) or belongs to an item kept earlier in this batch;
2. it has the same company and canonical URL (no scheme, query, fragment, trailing slash)
   as a kept item: one article re-published under a second title, at any distance in time;
3. it has the same company, is published within 3 days of a kept item, and the two
   titles' word sets have a Jaccard similarity of at least 0.85.

For rule 3 a publisher suffix ("... - Reuters", "... | BioSpace") is removed before the
words are compared, when it is at most 4 words and leaves at least 4: aggregators append
it, and it is the usual difference between two reports of one headline. 0.85 means one
word added to or dropped from a title of 6 or more words is a duplicate (6/7 = 0.857),
while one word changed in a 10-word title is not (9/11 = 0.818): "Phase 2" and "Phase 3"
are different stories. Across scans only rule 1 applies: the flow passes fingerprints,
not the titles of stored items.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters
from flowdesk.biotech.items import NewsItem, canonical_url, normalize_title

SUFFIX_MAX_WORDS = 4
HEAD_MIN_WORDS = 4
_PUBLISHER_SUFFIX = re.compile(r"\s+[-|\u2013\u2014]\s+([^-|\u2013\u2014]+)$")


def dedupe(
    items: Iterable[NewsItem],
    seen_fingerprints: Collection[str],
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> list[NewsItem]:
    """The items that are new stories, earliest first: no seen, exact or near duplicates."""
    window = timedelta(days=parameters.dedupe_window_days)
    kept: list[tuple[NewsItem, str | None, frozenset[str]]] = []
    fingerprints = set(seen_fingerprints)
    for item in sorted(items, key=_order):
        if item.fingerprint in fingerprints:
            continue
        url = canonical_url(item.url) if item.url else None
        words = title_words(item.title)
        if any(
            _same_story(item, url, words, other, other_url, other_words, window, parameters)
            for other, other_url, other_words in kept
        ):
            continue
        fingerprints.add(item.fingerprint)
        kept.append((item, url, words))
    return [item for item, _, _ in kept]


def title_words(title: str) -> frozenset[str]:
    """The normalised words of a title without a trailing publisher name."""
    suffix = _PUBLISHER_SUFFIX.search(title)
    if suffix is not None:
        head = title[: suffix.start()]
        if (
            len(suffix.group(1).split()) <= SUFFIX_MAX_WORDS
            and len(normalize_title(head).split()) >= HEAD_MIN_WORDS
        ):
            title = head
    return frozenset(normalize_title(title).split())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|, 0 when both are empty."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def _same_story(
    item: NewsItem,
    url: str | None,
    words: frozenset[str],
    other: NewsItem,
    other_url: str | None,
    other_words: frozenset[str],
    window: timedelta,
    parameters: ModelParameters,
) -> bool:
    if item.company_id.upper() != other.company_id.upper():
        return False
    if url is not None and url == other_url:
        return True
    close_in_time = abs(item.published_at - other.published_at) <= window
    return close_in_time and jaccard(words, other_words) >= parameters.dedupe_title_jaccard


def _order(item: NewsItem) -> tuple[datetime, str, str, str, str, str]:
    guid, url = item.guid or "", item.url or ""
    return item.published_at, item.source, guid, url, item.fingerprint, item.title
