"""Companies: the shipped file, every config error, the PRIORITY_COMPANIES override, matching."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowdesk.biotech.companies import (
    AnalysisFrequency,
    CompanyNotFound,
    CompanyRegistry,
    get_companies,
    load_companies,
)
from flowdesk.biotech.items import Priority
from flowdesk.errors import ConfigError
from flowdesk.screener_sets import load_catalog
from flowdesk.screening.criteria import TICKER_RE
from flowdesk.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "companies.yaml"
SEED_FOUR = ["GILD", "MRNA", "PFE", "JNJ"]

VALID = """\
version: 1
shared_feeds: [https://wire.example/rss.xml]
companies:
  - id: GILD
    name: Gilead Sciences
    priority: high
    analysis_frequency: daily
    aliases: [Gilead]
  - id: MRK
    name: Merck & Co.
    priority: medium
    analysis_frequency: daily
    aliases: [Merck, MSD]
    excludes: [Merck KGaA]
    feeds: [https://newsroom.example/mrk/rss.xml]
  - id: NVAX
    name: Novavax
    priority: low
    analysis_frequency: weekly
    active: false
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, override: frozenset[str] | None = None) -> CompanyRegistry:
    return load_companies(write(tmp_path / "companies.yaml", text), override)


def config_error(tmp_path: Path, text: str, override: frozenset[str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, override)
    assert str(tmp_path / "companies.yaml") in caught.value.detail
    return caught.value.detail


@pytest.fixture(scope="module")
def shipped() -> CompanyRegistry:
    return load_companies(SHIPPED)


class TestShippedCompanies:
    def test_loads_at_least_24_companies_with_the_seed_four_as_priority(
        self, shipped: CompanyRegistry
    ) -> None:
        assert len(shipped) >= 24
        assert [c.id for c in shipped.priority()] == SEED_FOUR
        assert all(shipped.get(i).priority is Priority.HIGH for i in SEED_FOUR)

    def test_seed_names_and_frequencies_kept(self, shipped: CompanyRegistry) -> None:
        assert shipped.get("GILD").name == "Gilead Sciences"
        assert shipped.get("MRNA").name == "Moderna"
        assert shipped.get("JNJ").aliases[:1] == ("J&J",)
        assert {c.analysis_frequency for c in shipped} == set(AnalysisFrequency)

    def test_ids_are_tickers_of_the_biotech_screener_set(self, shipped: CompanyRegistry) -> None:
        catalog = load_catalog(ROOT / "config" / "schemas" / "screener_sets.yml")
        biotech = set(catalog.resolve_set("biotech_pharma").tickers)
        assert all(TICKER_RE.match(c.id) for c in shipped)
        assert {c.id for c in shipped} <= biotech

    def test_inactive_company_is_listed_but_not_active(self, shipped: CompanyRegistry) -> None:
        inactive = [c.id for c in shipped.all() if not c.active]
        assert inactive == ["NVAX"]
        assert "NVAX" not in {c.id for c in shipped.active()}

    def test_shared_feeds_are_https(self, shipped: CompanyRegistry) -> None:
        assert shipped.shared_feeds
        assert all(url.startswith("https://") for url in shipped.shared_feeds)


class TestLoadCompaniesErrors:
    def test_lowercase_id_names_company_and_fix(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("id: GILD", "id: gild"))
        assert message.endswith(
            "company 'gild': id 'gild' is not a ticker (use upper case, e.g. GILD)"
        )

    def test_unquoted_on_is_named_as_yaml_boolean(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("id: GILD", "id: ON"))
        assert 'companies[0]: id True is a YAML boolean, not a string (quote it, e.g. "ON")' in (
            message
        )

    def test_duplicate_id_names_company(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("id: NVAX", "id: GILD"))
        assert "company 'GILD' is listed twice (merge the entries)" in message

    def test_unknown_priority_names_allowed_values(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("priority: high", "priority: urgent"))
        assert (
            "company 'GILD': priority: Input should be 'high', 'medium' or 'low' (got 'urgent')"
        ) in message

    def test_hourly_frequency_points_at_priority(self, tmp_path: Path) -> None:
        text = VALID.replace("analysis_frequency: weekly", "analysis_frequency: hourly")
        message = config_error(tmp_path, text)
        assert "company 'NVAX': analysis_frequency: Input should be 'daily' or 'weekly'" in message
        assert "hourly quick scan is for priority companies (set priority: high)" in message

    def test_empty_name_names_company(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("name: Novavax", 'name: "  "'))
        assert "company 'NVAX': name is empty (write the company's name" in message

    def test_missing_key_names_company_and_key(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("    name: Novavax\n", ""))
        assert "company 'NVAX': missing key 'name' (add it)" in message

    def test_unknown_key_names_allowed_keys(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("    active: false", "    colour: red"))
        assert "company 'NVAX': unknown key 'colour' (allowed keys: id, name, priority," in message

    def test_alias_of_two_companies_is_refused(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("aliases: [Gilead]", "aliases: [msd]"))
        assert "company 'MRK': 'MSD' also names company 'GILD', so news mentioning it would" in (
            message
        )
        assert "(keep it on one company)" in message

    def test_alias_equal_to_another_ticker_is_refused(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("aliases: [Gilead]", "aliases: [Nvax]"))
        assert "company 'NVAX': 'NVAX' also names company 'GILD'" in message

    def test_alias_repeated_within_company(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("[Merck, MSD]", "[Merck, MSD, merck]"))
        assert "company 'MRK': aliases: Merck, merck listed twice (remove the duplicates)" in (
            message
        )

    def test_empty_list_keys_mean_none(self, tmp_path: Path) -> None:
        text = VALID.replace("aliases: [Gilead]", "aliases:\n    feeds:")
        assert load(tmp_path, text).get("GILD").aliases == ()

    def test_aliases_must_be_a_list(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("aliases: [Gilead]", "aliases: Gilead"))
        assert "company 'GILD': aliases: must be a list of names, e.g. [Gilead]" in message

    def test_exclude_without_an_alias_is_refused(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("[Merck KGaA]", "[EMD Serono]"))
        assert "company 'MRK': exclude 'EMD Serono' contains none of its names or aliases" in (
            message
        )

    def test_feed_that_is_not_http_names_example(self, tmp_path: Path) -> None:
        text = VALID.replace("https://newsroom.example/mrk/rss.xml", "ftp://newsroom.example/x")
        message = config_error(tmp_path, text)
        assert "company 'MRK': feeds: feed 'ftp://newsroom.example/x' is not an http(s) URL" in (
            message
        )

    def test_bad_shared_feed_is_named(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("https://wire.example/rss.xml", "wire"))
        assert "shared_feeds: feed 'wire' is not an http(s) URL" in message

    def test_feed_both_shared_and_own_is_refused(self, tmp_path: Path) -> None:
        text = VALID.replace("https://wire.example/rss.xml", "https://newsroom.example/mrk/rss.xml")
        message = config_error(tmp_path, text)
        assert (
            "company 'MRK': feed https://newsroom.example/mrk/rss.xml is also in shared_feeds"
            in (message)
        )

    def test_duplicate_yaml_key_names_line(self, tmp_path: Path) -> None:
        text = VALID.replace("    priority: high\n", "    priority: high\n    priority: low\n")
        message = config_error(tmp_path, text)
        assert "line 7, column 5: duplicate key 'priority'" in message

    def test_yaml_syntax_error_names_line(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("[Merck, MSD]", "[Merck, MSD"))
        assert "line " in message
        assert "fix the YAML syntax there" in message

    def test_wrong_version_names_supported_version(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("version: 1", "version: 2"))
        assert "version is 2; this flowdesk reads version 1" in message

    def test_seed_shape_without_version_loads(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID.replace("version: 1\n", ""))
        assert [c.id for c in registry] == ["GILD", "MRK", "NVAX"]

    def test_no_companies_and_unknown_top_level_key(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, "version: 1\ncompanies: []\nextras: 1\n")
        assert "'companies' must be a non-empty list" in message
        assert (
            "unknown top-level key 'extras' (allowed keys: version, companies, shared_feeds)"
            in (message)
        )

    def test_top_level_list_is_not_a_mapping(self, tmp_path: Path) -> None:
        assert "expected a mapping with keys" in config_error(tmp_path, "- id: GILD\n")

    def test_missing_file_names_the_setting(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="absent.yaml: file not found") as caught:
            load_companies(tmp_path / "absent.yaml")
        assert "FLOWDESK_COMPANIES_PATH" in caught.value.detail

    def test_every_problem_reported_on_its_own_line(self, tmp_path: Path) -> None:
        text = VALID.replace("id: GILD", "id: gild").replace("priority: low", "priority: none")
        lines = config_error(tmp_path, text).splitlines()
        assert len(lines) == 2
        assert all(line.startswith(str(tmp_path)) for line in lines)


class TestPriorityOverride:
    def test_without_override_file_priorities_decide(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID)
        assert [c.id for c in registry.priority()] == ["GILD"]
        assert registry.get("GILD").is_priority

    def test_override_makes_exactly_the_listed_ids_high(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID, frozenset({"MRK"}))
        assert [c.id for c in registry.priority()] == ["MRK"]
        assert registry.get("MRK").priority is Priority.HIGH
        # GILD is high in the file but not listed: lowered, so priority and is_priority agree.
        assert registry.get("GILD").priority is Priority.MEDIUM
        assert not registry.get("GILD").is_priority
        assert registry.get("NVAX").priority is Priority.LOW

    def test_override_ids_are_case_insensitive(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID, frozenset({"mrk", " gild "}))
        assert [c.id for c in registry.priority()] == ["GILD", "MRK"]

    def test_unknown_ids_are_named_with_known_ones(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID, frozenset({"GILD", "XYZ", "ABC"}))
        assert message.startswith("PRIORITY_COMPANIES names ABC, XYZ, not in ")
        assert "known ids: GILD, MRK, NVAX" in message

    def test_inactive_id_is_refused(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID, frozenset({"NVAX"}))
        assert "PRIORITY_COMPANIES names NVAX, inactive in" in message
        assert "set active: true or drop it" in message

    def test_empty_override_is_refused(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID, frozenset())
        assert "PRIORITY_COMPANIES is set but names no company" in message


class TestRegistry:
    def test_all_active_and_priority(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID)
        assert [c.id for c in registry.all()] == ["GILD", "MRK", "NVAX"]
        assert [c.id for c in registry.active()] == ["GILD", "MRK"]
        assert registry.shared_feeds == ("https://wire.example/rss.xml",)
        assert registry.get("MRK").feeds == ("https://newsroom.example/mrk/rss.xml",)

    def test_get_is_case_insensitive(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID)
        assert registry.get(" gild ").id == "GILD"
        assert "mrk" in registry
        assert "PFE" not in registry

    def test_get_unknown_is_404_listing_known_ids(self, tmp_path: Path) -> None:
        registry = load(tmp_path, VALID)
        with pytest.raises(CompanyNotFound, match="no company 'PFE'; known ids: GILD, MRK, NVAX"):
            registry.get("PFE")
        assert CompanyNotFound.status_code == 404


class TestMatch:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Pfizer's quarterly sales beat estimates", ["PFE"]),
            ("PFIZER BEATS ESTIMATES", ["PFE"]),
            ("Pfizerville council meets", []),
            ("J&J settles patent suit", ["JNJ"]),
            ("Johnson & Johnson, also called Johnson and Johnson", ["JNJ"]),
            ("Janssen licenses antibody", ["JNJ"]),
            ("Merck KGaA raises its outlook", []),
            ("Merck KGaA sues Merck over the name", ["MRK"]),
            ("MSD reports results", ["MRK"]),
            ("Bristol-Myers Squibb names a CSO", ["BMY"]),
            ("Bristol Myers  Squibb names a CSO", ["BMY"]),
            ("mRNA vaccine uptake slows", []),
            ("Moderna (NASDAQ: MRNA) falls", ["MRNA"]),
            ("MRNA down 4% premarket", ["MRNA"]),
            ("$GILD up 3%", ["GILD"]),
            ("CRISPR screening finds new targets", []),
            ("CRISPR Therapeutics files label expansion", ["CRSP"]),
            ("Vertex Pharmaceuticals wins approval", ["VRTX"]),
            ("the vertex of the dose-response curve", []),
            ("BioNTech partner Pfizer files", ["BNTX", "PFE"]),
            ("Novo Nordisk Foundation funds a lab", []),
            ("Argenx files; argenx shares rise", ["ARGX"]),
            ("Biogen's BIIB-144 and Amgen", ["BIIB", "AMGN"]),
        ],
    )
    def test_match(self, shipped: CompanyRegistry, text: str, expected: list[str]) -> None:
        assert shipped.match(text) == expected

    def test_first_mention_first(self, shipped: CompanyRegistry) -> None:
        text = "Lilly shares rose after Novo Nordisk cut its outlook; Gilead was flat"
        assert shipped.match(text) == ["LLY", "NVO", "GILD"]

    def test_inactive_companies_still_match(self, shipped: CompanyRegistry) -> None:
        assert shipped.match("Novavax restructures") == ["NVAX"]


class TestGetCompanies:
    @pytest.fixture
    def configured(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        path = write(tmp_path / "companies.yaml", VALID)
        monkeypatch.setenv("FLOWDESK_COMPANIES_PATH", str(path))
        monkeypatch.setenv("PRIORITY_COMPANIES", "MRK")
        get_settings.cache_clear()
        get_companies.cache_clear()
        yield path
        get_settings.cache_clear()
        get_companies.cache_clear()

    def test_one_registry_per_process_with_the_override(self, configured: Path) -> None:
        registry = get_companies()
        assert registry is get_companies()
        assert [c.id for c in registry.priority()] == ["MRK"]
