"""News sources: the shipped sample feeds, feed parsing, RSS and Backend API over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flowdesk.biotech.companies import (
    AnalysisFrequency,
    Company,
    CompanyNotFound,
    CompanyRegistry,
    load_companies,
)
from flowdesk.biotech.items import NewsItem, Priority
from flowdesk.biotech.news import (
    BackendApiError,
    BackendApiSource,
    FeedError,
    NewsSourceError,
    Request,
    RssSource,
    SampleFeedSource,
    get_news_source,
    parse_feed,
)
from flowdesk.biotech.news.feeds import html_to_text
from flowdesk.errors import ConfigError
from flowdesk.settings import Settings
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "data" / "sample" / "news"
SEED_FOUR = {"GILD", "MRNA", "PFE", "JNJ"}


@pytest.fixture(scope="module")
def shipped() -> CompanyRegistry:
    return load_companies(ROOT / "config" / "companies.yaml")


@pytest.fixture(scope="module")
def sample_items(shipped: CompanyRegistry) -> list[NewsItem]:
    return SampleFeedSource(SAMPLE_DIR, shipped).read_all()


def rss(*items: str, title: str = "test feed") -> bytes:
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://wire.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


def item(
    title: str, *, date: str | None = "Tue, 17 Nov 2026 07:00:00 -0500", summary: str = ""
) -> str:
    when = f"<pubDate>{date}</pubDate>" if date else ""
    return f"<title>{title}</title><link>https://wire.example/{len(title)}</link>{when}" + (
        f"<description>{summary}</description>"
    )


def company(company_id: str, name: str, *aliases: str, feeds: tuple[str, ...] = ()) -> Company:
    return Company(
        id=company_id,
        name=name,
        priority=Priority.MEDIUM,
        analysis_frequency=AnalysisFrequency.DAILY,
        aliases=aliases,
        feeds=feeds,
    )


class TestShippedSampleFeeds:
    def test_every_file_is_labelled_and_parses(self, shipped: CompanyRegistry) -> None:
        files = sorted(SAMPLE_DIR.glob("*.xml"))
        assert len(files) >= 10
        for path in files:
            text = path.read_text(encoding="utf-8")
            head = text.split("<item>")[0].split("<entry>")[0]
            assert "<title>flowdesk sample feed" in head, path.name
            assert "SAMPLE DATA" in head, path.name
            items = parse_feed(path.read_bytes(), source=path.name, companies=shipped)
            assert items, path.name

    def test_readme_says_not_real_news(self) -> None:
        readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
        assert "**These are not real news.**" in readme

    def test_both_formats_shipped(self) -> None:
        heads = [p.read_text(encoding="utf-8")[:400] for p in SAMPLE_DIR.glob("*.xml")]
        assert any('<rss version="2.0">' in h for h in heads)
        assert any('<feed xmlns="http://www.w3.org/2005/Atom">' in h for h in heads)

    def test_items_cover_at_least_8_companies_with_4_or_more(
        self, sample_items: list[NewsItem]
    ) -> None:
        assert 60 <= len(sample_items) <= 100
        counts = {i.company_id: 0 for i in sample_items}
        for news in sample_items:
            counts[news.company_id] += 1
        covered = {c for c, n in counts.items() if n >= 4}
        assert len(covered) >= 8
        assert covered >= SEED_FOUR

    def test_items_are_clean_text_dated_in_utc_in_the_sample_window(
        self, sample_items: list[NewsItem]
    ) -> None:
        for news in sample_items:
            assert news.published_at.tzinfo is UTC
            assert datetime(2026, 10, 1, tzinfo=UTC) <= news.published_at
            assert news.published_at < datetime(2026, 11, 22, tzinfo=UTC)
            assert news.title
            assert news.summary
            assert "<" not in news.summary
            assert "&amp;" not in news.summary
            assert news.url is not None
            assert news.url.startswith("https://")
            assert ".example/" in news.url
            assert news.guid

    def test_event_types_a_biotech_desk_watches_are_present(
        self, sample_items: list[NewsItem]
    ) -> None:
        titles = " | ".join(i.title.lower() for i in sample_items)
        for phrase in [
            "fda approval", "complete response letter", "positive phase 3", "did not meet",
            "clinical hold", "recall", "boxed warning", "patent", "offering", "acquire",
            "appoints", "licenses", "financial results", "guidance", "dividend",
        ]:  # fmt: skip
            assert phrase in titles, phrase

    def test_duplicate_story_in_two_files_has_one_fingerprint(
        self, sample_items: list[NewsItem]
    ) -> None:
        title = "Pfizer and BioNTech Receive FDA Approval for 2026-2027 Formula COVID-19 Vaccine"
        copies = [i for i in sample_items if i.company_id == "PFE" and i.title.startswith(title)]
        assert {i.source for i in copies} == {"sample:PFE.xml", "sample:industry_wire.xml"}
        assert len({i.fingerprint for i in copies}) == 1
        assert len({i.url for i in copies}) == 2
        # The same story is also BioNTech's, with its own fingerprint.
        partner = [i for i in sample_items if i.company_id == "BNTX" and i.title.startswith(title)]
        assert len(partner) == 2
        assert partner[0].fingerprint != copies[0].fingerprint

    def test_wire_is_attributed_by_alias(self, sample_items: list[NewsItem]) -> None:
        wire = [i for i in sample_items if i.source == "sample:industry_wire.xml"]
        by_title: dict[str, list[str]] = {}
        for news in wire:
            by_title.setdefault(news.title, []).append(news.company_id)
        assert by_title[
            "J&J, Merck KGaA Settle European Patent Dispute Over Oncology Antibody"
        ] == ["JNJ"]
        assert by_title[
            "Bristol-Myers Squibb Hires Chief Scientific Officer From Rival Drugmaker"
        ] == ["BMY"]
        assert sorted(
            by_title[
                "Novo Nordisk Cuts Sales Outlook as Obesity Drug Prices Fall; Lilly Shares Rise"
            ]
        ) == ["LLY", "NVO"]
        # Naming no watched company ("mRNA" is not a ticker): dropped.
        assert not [t for t in by_title if t.startswith("mRNA Vaccine Makers")]
        assert not [t for t in by_title if t.startswith("Biotech Funding Rebounds")]

    def test_atom_dates_are_converted_to_utc_and_updated_is_the_fallback(
        self, sample_items: list[NewsItem]
    ) -> None:
        jnj = {i.title: i for i in sample_items if i.source == "sample:JNJ.xml"}
        approval = jnj[
            "Johnson & Johnson Receives FDA Approval for Subcutaneous JNJ-4482 in Relapsed "
            "Multiple Myeloma"
        ]
        assert approval.published_at == datetime(2026, 11, 17, 12, 15, tzinfo=UTC)
        assert approval.guid == "tag:flowdesk.sample,2026:jnj/20261117-jnj-4482-approval"
        # This entry has only <updated> (two hours after its nominal date).
        ruling = jnj[
            "Johnson & Johnson Wins Patent Ruling Against Biosimilar Maker Over Immunology Drug"
        ]
        assert ruling.published_at == datetime(2026, 10, 30, 23, 0, tzinfo=UTC)
        (warning,) = [n for t, n in jnj.items() if t.startswith("FDA Adds Boxed Warning to J&J")]
        assert "J&J said" in warning.summary


@pytest.fixture(scope="module")
def small() -> CompanyRegistry:
    merck = company("MRK", "Merck & Co.", "Merck", "MSD").model_copy(
        update={"excludes": ("Merck KGaA",)}
    )
    return CompanyRegistry(
        [
            company("GILD", "Gilead Sciences", "Gilead"),
            company("JNJ", "Johnson & Johnson", "J&J"),
            merck,
        ]
    )


class TestParseFeed:
    def test_shared_feed_entry_goes_to_every_company_it_names(self, small: CompanyRegistry) -> None:
        content = rss(
            item("J&amp;J, Merck KGaA settle", summary="Terms were not disclosed."),
            item("Gilead and MSD extend deal"),
            item("Biotech funding rebounds", summary="No company named."),
        )
        items = parse_feed(content, source="wire", companies=small)
        assert [(i.company_id, i.title) for i in items] == [
            ("JNJ", "J&J, Merck KGaA settle"),
            ("GILD", "Gilead and MSD extend deal"),
            ("MRK", "Gilead and MSD extend deal"),
        ]
        assert items[0].source == "wire"
        assert items[0].published_at == datetime(2026, 11, 17, 12, 0, tzinfo=UTC)

    def test_company_feed_entries_are_its_own_plus_companies_named(
        self, small: CompanyRegistry
    ) -> None:
        content = rss(item("Quarterly dividend declared"), item("Partnership with Gilead"))
        items = parse_feed(content, source="mrk", companies=small, default_company="mrk")
        assert [(i.company_id, i.title) for i in items] == [
            ("MRK", "Quarterly dividend declared"),
            ("MRK", "Partnership with Gilead"),
            ("GILD", "Partnership with Gilead"),
        ]

    def test_unknown_default_company_is_refused(self, small: CompanyRegistry) -> None:
        with pytest.raises(CompanyNotFound, match="no company 'PFE'"):
            parse_feed(rss(), source="x", companies=small, default_company="PFE")

    def test_entry_without_date_is_skipped_with_a_warning(
        self, small: CompanyRegistry, caplog: pytest.LogCaptureFixture
    ) -> None:
        content = rss(item("Gilead undated", date=None), item("Gilead dated"))
        with caplog.at_level(logging.WARNING, logger="flowdesk.biotech.news.feeds"):
            items = parse_feed(content, source="wire", companies=small)
        assert [i.title for i in items] == ["Gilead dated"]
        assert "has no published or updated date; skipped" in caplog.text

    def test_entry_without_title_is_skipped_with_a_warning(
        self, small: CompanyRegistry, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="flowdesk.biotech.news.feeds"):
            items = parse_feed(
                rss(item("")), source="gild", companies=small, default_company="GILD"
            )
        assert items == []
        assert "has no title; skipped" in caplog.text

    def test_html_is_reduced_to_text(self, small: CompanyRegistry) -> None:
        summary = "<![CDATA[<p>Gilead &amp; partners</p><ul><li>one</li><li>two</li></ul>]]>"
        (news,) = parse_feed(
            rss(item("Gilead <b>news</b>", summary=summary)), source="w", companies=small
        )
        assert news.summary == "Gilead & partners one two"
        assert html_to_text("<p>A&nbsp;B</p>\n\n<p>C &lt; D</p>") == "A B C < D"

    def test_atom_entry_with_updated_only(self, small: CompanyRegistry) -> None:
        content = (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id>'
            b"<updated>2026-11-20T00:00:00Z</updated><entry><title>Gilead update</title>"
            b'<id>urn:e1</id><link href="https://x.example/1"/>'
            b"<updated>2026-11-19T10:00:00+01:00</updated>"
            b'<content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry></feed>'
        )
        (news,) = parse_feed(content, source="atom", companies=small)
        assert (news.company_id, news.guid, news.url) == ("GILD", "urn:e1", "https://x.example/1")
        assert news.published_at == datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
        assert news.summary == "Body"

    @pytest.mark.parametrize(
        "content", [b"", b"<html><body><h1>Sign in</h1></body></html>", b'{"items": []}']
    )
    def test_not_a_feed_is_a_feed_error(self, small: CompanyRegistry, content: bytes) -> None:
        with pytest.raises(FeedError, match="page: not an RSS or Atom feed"):
            parse_feed(content, source="page", companies=small)

    def test_truncated_feed_keeps_what_was_read_and_warns(
        self, small: CompanyRegistry, caplog: pytest.LogCaptureFixture
    ) -> None:
        content = rss(item("Gilead one"), item("Gilead two"))[:-40]
        with caplog.at_level(logging.WARNING, logger="flowdesk.biotech.news.feeds"):
            items = parse_feed(content, source="cut", companies=small)
        assert [i.title for i in items] == ["Gilead one", "Gilead two"]
        assert "cut: malformed feed" in caplog.text

    def test_empty_feed_has_no_items(self, small: CompanyRegistry) -> None:
        assert parse_feed(rss(), source="empty", companies=small) == []


class TestSampleFeedSource:
    def test_company_gets_its_file_and_mentions_elsewhere_newest_first(
        self, shipped: CompanyRegistry
    ) -> None:
        source = SampleFeedSource(SAMPLE_DIR, shipped)
        items = asyncio.run(source.fetch(shipped.get("GILD"), None))
        assert {i.company_id for i in items} == {"GILD"}
        assert {i.source for i in items} == {
            "sample:GILD.xml", "sample:MRK.xml", "sample:industry_wire.xml",
        }  # fmt: skip
        dates = [i.published_at for i in items]
        assert dates == sorted(dates, reverse=True)
        assert source.name == "sample"

    def test_since_is_inclusive(self, shipped: CompanyRegistry) -> None:
        source = SampleFeedSource(SAMPLE_DIR, shipped)
        since = datetime(2026, 11, 18, 13, 5, tzinfo=UTC)  # the GS-1720 approval, to the second
        items = asyncio.run(source.fetch(shipped.get("GILD"), since))
        assert [i.title[:40] for i in items] == ["Gilead Receives FDA Approval for Once-Da"]

    def test_naive_since_is_refused(self, shipped: CompanyRegistry) -> None:
        source = SampleFeedSource(SAMPLE_DIR, shipped)
        with pytest.raises(ValueError, match="has no time zone"):
            asyncio.run(source.fetch(shipped.get("GILD"), datetime(2026, 11, 1)))

    def test_company_without_news_gets_none(self, shipped: CompanyRegistry) -> None:
        source = SampleFeedSource(SAMPLE_DIR, shipped)
        assert asyncio.run(source.fetch(shipped.get("JAZZ"), None)) == []

    @pytest.mark.parametrize("name", ["GILDD.xml", "Gild.xml", "_wire.xml"])
    def test_misnamed_file_fails_at_start(
        self, tmp_path: Path, shipped: CompanyRegistry, name: str
    ) -> None:
        (tmp_path / name).write_bytes(rss())
        with pytest.raises(ConfigError, match=f"{name}: the name is neither a company id"):
            SampleFeedSource(tmp_path, shipped)

    def test_missing_directory_names_the_setting(
        self, tmp_path: Path, shipped: CompanyRegistry
    ) -> None:
        with pytest.raises(ConfigError, match="FLOWDESK_NEWS_SAMPLE_DIR"):
            SampleFeedSource(tmp_path / "absent", shipped)

    def test_edited_file_is_read_again(self, tmp_path: Path, shipped: CompanyRegistry) -> None:
        path = tmp_path / "GILD.xml"
        path.write_bytes(rss(item("First story")))
        source = SampleFeedSource(tmp_path, shipped)
        assert [i.title for i in source.read_all()] == ["First story"]
        path.write_bytes(rss(item("Second, longer story")))
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
        assert [i.title for i in source.read_all()] == ["Second, longer story"]


@dataclass
class Loopback:
    """A real HTTP server on 127.0.0.1 answering from ``routes`` and recording each request."""

    url: str
    routes: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopback]:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)  # loopback must not go through a proxy
    state = Loopback(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            time.sleep(state.delay)
            status, content_type, body = state.routes.get(
                urlsplit(self.path).path, (404, "text/plain", b"not found")
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (the timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # Polling at 50 ms instead of the default 500 ms: shutdown() waits up to one interval.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class RecordingCall:
    """An OutboundCall like the retry guard's: sends once, records what it saw."""

    def __init__(self) -> None:
        self.calls = 0
        self.errors: list[Exception] = []

    async def __call__(self, request: Request) -> httpx.Response:
        self.calls += 1
        try:
            return await request()
        except httpx.HTTPError as exc:
            self.errors.append(exc)
            raise


def serve_file(server: Loopback, route: str, name: str) -> str:
    server.routes[route] = (200, "application/rss+xml", (SAMPLE_DIR / name).read_bytes())
    return server.url + route


class TestRssSource:
    def registry(self, server: Loopback) -> CompanyRegistry:
        gild = company(
            "GILD", "Gilead Sciences", "Gilead", feeds=(serve_file(server, "/gild", "GILD.xml"),)
        )
        jnj = company(
            "JNJ", "Johnson & Johnson", "J&J", feeds=(serve_file(server, "/jnj", "JNJ.xml"),)
        )
        wire = serve_file(server, "/wire", "industry_wire.xml")
        return CompanyRegistry([gild, jnj, company("MRNA", "Moderna")], shared_feeds=[wire])

    def test_reads_own_and_shared_feeds_through_call(self, server: Loopback) -> None:
        registry, call = self.registry(server), RecordingCall()
        source = RssSource(registry, timeout=5, call=call)
        items = asyncio.run(source.fetch(registry.get("GILD"), None))
        assert call.calls == 2
        assert server.requests == ["/gild", "/wire"]
        assert {i.source for i in items} == {f"rss:{server.url}/gild", f"rss:{server.url}/wire"}
        assert len([i for i in items if i.source.endswith("/gild")]) == 6
        assert [i.title for i in items if i.source.endswith("/wire")] == [
            "Gilead, Moderna Among Drugmakers Backing New Pandemic Preparedness Fund"
        ]
        assert {i.company_id for i in items} == {"GILD"}
        assert source.name == "rss"

    def test_atom_company_feed(self, server: Loopback) -> None:
        registry = self.registry(server)
        source = RssSource(registry, timeout=5)
        since = datetime(2026, 11, 1, tzinfo=UTC)
        items = asyncio.run(source.fetch(registry.get("JNJ"), since))
        assert [(i.source.rsplit("/", 1)[1], f"{i.published_at:%m-%d}") for i in items] == [
            ("wire", "11-19"),
            ("jnj", "11-17"),
            ("jnj", "11-09"),
            ("jnj", "11-02"),
        ]
        assert items[0].published_at == datetime(2026, 11, 19, 16, 40, tzinfo=UTC)

    def test_shared_feed_is_fetched_once_per_ttl(self, server: Loopback) -> None:
        registry, call = self.registry(server), RecordingCall()
        now = [0.0]
        source = RssSource(
            registry, timeout=5, call=call, shared_ttl_seconds=300, clock=lambda: now[0]
        )
        asyncio.run(source.fetch(registry.get("GILD"), None))
        moderna = asyncio.run(source.fetch(registry.get("MRNA"), None))
        assert server.requests == ["/gild", "/wire"]
        assert [i.title[:20] for i in moderna] == ["Gilead, Moderna Amon"]
        now[0] = 301.0
        asyncio.run(source.fetch(registry.get("MRNA"), None))
        assert server.requests == ["/gild", "/wire", "/wire"]
        assert call.calls == 3

    def test_http_error_reaches_call_and_surfaces_once(self, server: Loopback) -> None:
        registry, call = self.registry(server), RecordingCall()
        del server.routes["/gild"]
        with pytest.raises(NewsSourceError, match=r"feed .*/gild: GET .*/gild answered HTTP 404"):
            asyncio.run(RssSource(registry, timeout=5, call=call).fetch(registry.get("GILD"), None))
        assert server.requests == ["/gild"]
        assert [type(e) for e in call.errors] == [httpx.HTTPStatusError]

    def test_html_page_is_a_feed_error(self, server: Loopback) -> None:
        registry = self.registry(server)
        server.routes["/gild"] = (200, "text/html", b"<html><body>Sign in</body></html>")
        with pytest.raises(FeedError, match="not an RSS or Atom feed"):
            asyncio.run(RssSource(registry, timeout=5).fetch(registry.get("GILD"), None))

    def test_injected_client_is_used(self, server: Loopback) -> None:
        registry = self.registry(server)

        async def fetch() -> list[NewsItem]:
            async with httpx.AsyncClient(trust_env=False) as client:
                source = RssSource(registry, timeout=5, client=client)
                items = await source.fetch(registry.get("MRNA"), None)
                assert not client.is_closed  # the source does not close a client it was given
                return items

        assert len(asyncio.run(fetch())) == 1


def news_body(*items: dict[str, object]) -> bytes:
    return json.dumps({"items": list(items)}).encode()


GOOD: list[dict[str, object]] = [
    {"id": "bk-1", "title": "Gilead older", "summary": None, "url": None,
     "published_at": "2026-11-19T10:00:00+00:00"},
    {"id": 2, "title": "Gilead newer", "summary": "Details.", "url": "https://x.example/2",
     "published_at": "2026-11-20T07:15:00-05:00", "sentiment": 0.4},
    {"id": "bk-0", "title": "Gilead before since", "published_at": "2026-10-01T00:00:00Z"},
]  # fmt: skip


class TestBackendApiSource:
    ROUTE = "/api/companies/GILD/news"

    def fetch(
        self, server: Loopback, since: datetime | None = None, call: RecordingCall | None = None
    ) -> list[NewsItem]:
        source = BackendApiSource(server.url + "/", timeout=5, call=call or RecordingCall())
        gild = company("GILD", "Gilead Sciences")
        return asyncio.run(source.fetch(gild, since))

    def test_contract_items_become_news_newest_first(self, server: Loopback) -> None:
        server.routes[self.ROUTE] = (200, "application/json", news_body(*GOOD))
        since = datetime(2026, 11, 1, tzinfo=UTC)
        items = self.fetch(server, since)
        path, _, query = server.requests[0].partition("?")
        assert path == self.ROUTE
        assert parse_qs(query) == {"since": ["2026-11-01T00:00:00+00:00"]}
        assert [(i.title, i.guid, i.summary, i.url) for i in items] == [
            ("Gilead newer", "2", "Details.", "https://x.example/2"),
            ("Gilead older", "bk-1", "", None),
        ]
        assert items[0].published_at == datetime(2026, 11, 20, 12, 15, tzinfo=UTC)
        assert {(i.source, i.company_id) for i in items} == {("backend", "GILD")}

    def test_without_since_asks_for_everything(self, server: Loopback) -> None:
        server.routes[self.ROUTE] = (200, "application/json", news_body(*GOOD))
        assert len(self.fetch(server)) == 3
        assert server.requests == [self.ROUTE]

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            (b"<html>oops</html>", "body: Invalid JSON"),
            (b'{"news": []}', "items: Field required"),
            (news_body({"id": "1", "title": "t"}), "items.0.published_at: Field required"),
            (
                news_body({"id": "1", "title": "t", "published_at": "2026-11-20T07:15:00"}),
                "items.0.published_at: Input should have timezone info",
            ),
            (
                news_body({"id": "1", "title": "", "published_at": "2026-11-20T07:15:00Z"}),
                "items.0.title: String should have at least 1 character",
            ),
        ],
    )
    def test_malformed_body_names_the_problem(
        self, server: Loopback, body: bytes, problem: str
    ) -> None:
        server.routes[self.ROUTE] = (200, "application/json", body)
        with pytest.raises(BackendApiError) as caught:
            self.fetch(server)
        assert f"GET {server.url}{self.ROUTE} answered 200 with a body that breaks" in (
            caught.value.detail
        )
        assert problem in caught.value.detail

    def test_500_reaches_call_and_surfaces_without_retry(self, server: Loopback) -> None:
        server.routes[self.ROUTE] = (500, "text/plain", b"boom")
        call = RecordingCall()
        with pytest.raises(
            NewsSourceError, match="backend API \\(news of GILD\\): GET .* HTTP 500"
        ):
            self.fetch(server, call=call)
        assert server.requests == [self.ROUTE]
        assert call.calls == 1
        assert isinstance(call.errors[0], httpx.HTTPStatusError)

    def test_unreachable_api_is_a_news_source_error(self) -> None:
        source = BackendApiSource(f"http://127.0.0.1:{free_port()}", timeout=5)
        with pytest.raises(NewsSourceError, match="failed \\(ConnectError"):
            asyncio.run(source.fetch(company("GILD", "Gilead Sciences"), None))

    def test_timeout_applies(self, server: Loopback) -> None:
        server.routes[self.ROUTE] = (200, "application/json", news_body())
        server.delay = 0.5
        source = BackendApiSource(server.url, timeout=0.1)
        with pytest.raises(NewsSourceError, match="ReadTimeout"):
            asyncio.run(source.fetch(company("GILD", "Gilead Sciences"), None))

    def test_company_id_is_quoted_in_the_path(self) -> None:
        source = BackendApiSource("http://api.example:8000/", timeout=1)
        assert source.url_for("BRK.B") == "http://api.example:8000/api/companies/BRK.B/news"
        assert source.url_for("A/B") == "http://api.example:8000/api/companies/A%2FB/news"


class TestGetNewsSource:
    def test_sample_is_the_default(self, shipped: CompanyRegistry) -> None:
        settings = Settings(news_source="sample", news_sample_dir=SAMPLE_DIR)
        assert isinstance(get_news_source(settings, shipped), SampleFeedSource)

    def test_rss_uses_api_timeout_and_the_call(self, shipped: CompanyRegistry) -> None:
        call = RecordingCall()
        settings = Settings(news_source="rss", FLOWDESK_API_TIMEOUT=7)
        source = get_news_source(settings, shipped, call=call)
        assert isinstance(source, RssSource)
        assert (source.timeout, source.call) == (7, call)

    def test_backend_uses_api_base_url(self, shipped: CompanyRegistry) -> None:
        settings = Settings(news_source="backend", FLOWDESK_API_BASE_URL="http://api.example:8000")
        source = get_news_source(settings, shipped)
        assert isinstance(source, BackendApiSource)
        assert source.url_for("GILD") == "http://api.example:8000/api/companies/GILD/news"

    def test_backend_without_api_base_url_is_a_config_error(
        self, shipped: CompanyRegistry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("API_BASE_URL", raising=False)
        monkeypatch.delenv("FLOWDESK_API_BASE_URL", raising=False)
        with pytest.raises(ConfigError, match="API_BASE_URL is not set"):
            get_news_source(Settings(news_source="backend"), shipped)

    def test_backend_with_a_non_http_url_is_a_config_error(self, shipped: CompanyRegistry) -> None:
        settings = Settings(news_source="backend", FLOWDESK_API_BASE_URL="localhost:8000")
        with pytest.raises(ConfigError, match="'localhost:8000' is not an http\\(s\\) URL"):
            get_news_source(settings, shipped)
