"""Screener sets: the shipped file, every config error, hot reload and the sample data."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pyarrow.parquet as pq
import pytest

from flowdesk.errors import ConfigError, InvalidRequest, ScreenerSetNotFound
from flowdesk.screener_sets import (
    CatalogStore,
    ScreenerCatalog,
    get_catalog_store,
    load_catalog,
)
from flowdesk.screening.criteria import TICKER_RE, FilterCriteria
from flowdesk.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "schemas" / "screener_sets.yml"
SAMPLE_CSV = ROOT / "data" / "sample" / "fundamentals.csv"
REQUIRED_SETS = {
    "us_large_caps", "tech_majors", "crypto_majors", "dividend_aristocrats", "biotech_pharma",
    "financials_majors", "energy_majors", "semiconductors", "nasdaq_100", "dow_30",
}  # fmt: skip
REQUIRED_PRESETS = {
    "value", "growth", "quality", "dividend_income", "low_volatility", "large_cap_momentum",
}  # fmt: skip

VALID = """\
version: 1
sets:
  tech_majors:
    display_name: "Tech"
    description: "Big tech."
    categories: [equity, technology]
    tickers: [AAPL, MSFT, BRK.B]
presets:
  value:
    description: "Cheap."
    criteria: {pe_ratio_max: 15, return_on_equity_min: 0.15}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def bump_mtime(path: Path) -> None:
    # Two writes inside one clock tick can share an mtime; make the change visible.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def config_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path / "screener_sets.yml", text)
    with pytest.raises(ConfigError) as caught:
        load_catalog(path)
    assert str(path) in caught.value.detail
    return caught.value.detail


@pytest.fixture(scope="module")
def shipped() -> ScreenerCatalog:
    return load_catalog(SHIPPED)


class TestShippedCatalog:
    def test_required_sets_and_presets_present(self, shipped: ScreenerCatalog) -> None:
        assert REQUIRED_SETS <= shipped.sets.keys()
        assert len(shipped.sets) >= 10
        assert REQUIRED_PRESETS <= shipped.presets.keys()

    def test_every_set_is_complete_with_unique_valid_tickers(
        self, shipped: ScreenerCatalog
    ) -> None:
        for name, screener_set in shipped.sets.items():
            assert screener_set.name == name
            assert screener_set.display_name
            assert screener_set.description
            assert screener_set.categories
            assert all(c == c.lower() for c in screener_set.categories)
            assert screener_set.ticker_count == len(set(screener_set.tickers)) > 0
            assert all(TICKER_RE.match(t) for t in screener_set.tickers), name

    def test_index_sets_have_their_real_sizes(self, shipped: ScreenerCatalog) -> None:
        assert 490 <= shipped.sets["us_large_caps"].ticker_count <= 510
        assert 100 <= shipped.sets["nasdaq_100"].ticker_count <= 102
        assert shipped.sets["dow_30"].ticker_count == 30
        assert 60 <= shipped.sets["dividend_aristocrats"].ticker_count <= 70
        sp500 = set(shipped.sets["us_large_caps"].tickers)
        assert set(shipped.sets["dow_30"].tickers) <= sp500
        assert set(shipped.sets["dividend_aristocrats"].tickers) <= sp500

    def test_named_members_present(self, shipped: ScreenerCatalog) -> None:
        assert {"GILD", "MRNA", "PFE", "JNJ"} <= set(shipped.sets["biotech_pharma"].tickers)
        assert {"COIN", "MSTR", "MARA", "RIOT", "HOOD", "CLSK", "HUT"} <= set(
            shipped.sets["crypto_majors"].tickers
        )
        # Share classes with a dot, and ON quoted so YAML does not read it as True.
        assert {"BRK.B", "BF.B", "ON"} <= set(shipped.sets["us_large_caps"].tickers)

    def test_presets_are_filter_criteria_in_fractions(self, shipped: ScreenerCatalog) -> None:
        for preset in shipped.presets.values():
            assert isinstance(preset.criteria, FilterCriteria)
            assert preset.criteria.given(), preset.name
        assert shipped.presets["quality"].criteria.return_on_equity_min == 0.15

    def test_version_is_short_content_hash(self, shipped: ScreenerCatalog) -> None:
        assert shipped.version == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()[:12]
        assert shipped.path == SHIPPED


class TestLoadCatalogErrors:
    def test_lowercase_ticker_names_set_and_fix(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("AAPL,", "aapl,"))
        assert message.endswith(
            "set 'tech_majors': ticker 'aapl' is not a valid ticker (use upper case, e.g. AAPL)"
        )

    def test_malformed_ticker_names_format(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("BRK.B", "BRK/B"))
        assert "set 'tech_majors': ticker 'BRK/B' is not a valid ticker" in message
        assert "e.g. AAPL or BRK.B" in message

    def test_unquoted_on_is_named_as_yaml_boolean(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("BRK.B", "ON"))
        assert "set 'tech_majors': ticker True is a YAML boolean" in message
        assert '"ON"' in message

    def test_duplicate_ticker_names_set_and_ticker(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("BRK.B", "AAPL"))
        assert "set 'tech_majors': ticker 'AAPL' is listed 2 times (remove the duplicates)" in (
            message
        )

    def test_empty_tickers_names_set(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("[AAPL, MSFT, BRK.B]", "[]"))
        assert "set 'tech_majors': tickers must be a non-empty list" in message

    def test_empty_categories_names_set(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("[equity, technology]", "[]"))
        assert "set 'tech_majors': categories must be a non-empty list" in message

    def test_unknown_key_in_set_names_key_and_allowed(self, tmp_path: Path) -> None:
        text = VALID.replace(
            '    display_name: "Tech"', '    display_name: "Tech"\n    colour: red'
        )
        message = config_error(tmp_path, text)
        assert "set 'tech_majors': unknown key 'colour' (allowed keys: display_name," in message

    def test_missing_key_names_set_and_key(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace('    display_name: "Tech"\n', ""))
        assert "set 'tech_majors': missing key 'display_name'" in message

    def test_invalid_set_name_names_rule(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("tech_majors:", "Tech-Majors:"))
        assert "set name 'Tech-Majors' is invalid (use lower-case letters" in message

    def test_name_key_inside_set_is_refused(self, tmp_path: Path) -> None:
        text = VALID.replace('    display_name: "Tech"', '    display_name: "Tech"\n    name: x')
        assert "set 'tech_majors': unknown key 'name'" in config_error(tmp_path, text)

    def test_unknown_criterion_names_preset_and_criterion(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("pe_ratio_max", "pe_max"))
        assert "preset 'value': unknown criterion 'pe_max' (known criteria: market_cap_min" in (
            message
        )

    def test_percentage_for_fraction_criterion_names_fix(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("0.15", "15"))
        assert "preset 'value': return_on_equity_min is 15, which looks like a percentage" in (
            message
        )

    def test_non_numeric_criterion_names_preset_and_value(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("pe_ratio_max: 15", "pe_ratio_max: low"))
        assert "preset 'value': criterion 'pe_ratio_max': Input should be a valid number" in (
            message
        )
        assert "(got 'low')" in message

    def test_inverted_criteria_range_names_preset(self, tmp_path: Path) -> None:
        text = VALID.replace("pe_ratio_max: 15", "pe_ratio_max: 15, pe_ratio_min: 20")
        assert "preset 'value': pe_ratio_min (20.0) is greater than pe_ratio_max (15.0)" in (
            config_error(tmp_path, text)
        )

    def test_yaml_syntax_error_names_line(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("[AAPL, MSFT, BRK.B]", "[AAPL, MSFT"))
        assert "line " in message
        assert "fix the YAML syntax there" in message

    def test_duplicate_set_key_names_line(self, tmp_path: Path) -> None:
        second = '  tech_majors:\n    display_name: "Again"\npresets:'
        message = config_error(tmp_path, VALID.replace("presets:", second))
        assert "line 8" in message
        assert "duplicate key 'tech_majors'" in message

    def test_missing_file_names_path_and_setting(self, tmp_path: Path) -> None:
        path = tmp_path / "absent.yml"
        with pytest.raises(ConfigError, match="absent.yml: file not found") as caught:
            load_catalog(path)
        assert "FLOWDESK_SCREENER_SETS_PATH" in caught.value.detail

    def test_wrong_version_names_supported_version(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, VALID.replace("version: 1", "version: 2"))
        assert "version is 2; this flowdesk reads version 1" in message

    def test_no_sets_and_unknown_top_level_key(self, tmp_path: Path) -> None:
        message = config_error(tmp_path, "version: 1\nsets: {}\nextras: 1\n")
        assert "no sets are defined" in message
        assert "unknown top-level key 'extras'" in message

    def test_not_a_mapping(self, tmp_path: Path) -> None:
        assert "expected a mapping" in config_error(tmp_path, "- a\n- b\n")

    def test_every_problem_reported_on_its_own_line(self, tmp_path: Path) -> None:
        text = VALID.replace("AAPL,", "aapl,").replace("pe_ratio_max", "pe_max")
        lines = config_error(tmp_path, text).splitlines()
        assert len(lines) == 2
        assert all(line.startswith(str(tmp_path)) for line in lines)


class TestResolve:
    def test_known_set_and_preset_resolve(self, shipped: ScreenerCatalog) -> None:
        assert shipped.resolve_set("dow_30").ticker_count == 30
        assert shipped.resolve_preset("value").name == "value"

    def test_unknown_set_is_404_listing_known_sets(self, shipped: ScreenerCatalog) -> None:
        with pytest.raises(ScreenerSetNotFound, match="no screener set 'nope'") as caught:
            shipped.resolve_set("nope")
        assert caught.value.status_code == 404
        assert "dow_30, energy_majors" in caught.value.detail

    def test_unknown_preset_is_422_listing_known_presets(self, shipped: ScreenerCatalog) -> None:
        with pytest.raises(InvalidRequest, match="known presets: .*value") as caught:
            shipped.resolve_preset("nope")
        assert caught.value.status_code == 422

    def test_all_tickers_sorted_unique(self, shipped: ScreenerCatalog) -> None:
        tickers = shipped.all_tickers()
        assert tickers == sorted(set(tickers))
        assert set(shipped.sets["semiconductors"].tickers) <= set(tickers)


class TestCatalogStore:
    def test_invalid_file_at_start_up_raises(self, tmp_path: Path) -> None:
        path = write(tmp_path / "s.yml", VALID.replace("AAPL,", "aapl,"))
        with pytest.raises(ConfigError, match="ticker 'aapl'"):
            CatalogStore(path)

    def test_unchanged_file_serves_cached_catalog(self, tmp_path: Path) -> None:
        store = CatalogStore(write(tmp_path / "s.yml", VALID))
        assert store.get() is store.get()
        assert store.last_error is None

    def test_edit_is_picked_up(self, tmp_path: Path) -> None:
        path = write(tmp_path / "s.yml", VALID)
        store = CatalogStore(path)
        before = store.get()
        write(path, VALID.replace("BRK.B", "NVDA"))
        bump_mtime(path)
        after = store.get()
        assert after.version != before.version
        assert "NVDA" in after.resolve_set("tech_majors").tickers

    def test_invalid_edit_keeps_last_good_and_logs_once(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = write(tmp_path / "s.yml", VALID)
        store = CatalogStore(path)
        good = store.get()
        write(path, VALID.replace("AAPL,", "aapl,"))
        bump_mtime(path)
        with caplog.at_level(logging.ERROR, logger="flowdesk.screener_sets"):
            assert store.get() is good
            assert store.get() is good
        assert "ticker 'aapl'" in (store.last_error or "")
        assert [r.levelno for r in caplog.records] == [logging.ERROR]
        assert good.version in caplog.records[0].getMessage()

        write(path, VALID.replace("BRK.B", "NVDA"))
        bump_mtime(path)
        assert "NVDA" in store.get().resolve_set("tech_majors").tickers
        assert store.last_error is None

    def test_deleted_file_keeps_last_good(self, tmp_path: Path) -> None:
        path = write(tmp_path / "s.yml", VALID)
        store = CatalogStore(path)
        good = store.get()
        path.unlink()
        assert store.get() is good
        assert "file not found" in (store.last_error or "")


class TestGetCatalogStore:
    @pytest.fixture
    def configured(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        path = write(tmp_path / "sets.yml", VALID)
        monkeypatch.setenv("FLOWDESK_SCREENER_SETS_PATH", str(path))
        get_settings.cache_clear()
        get_catalog_store.cache_clear()
        yield path
        get_settings.cache_clear()
        get_catalog_store.cache_clear()

    def test_one_store_per_process_for_configured_path(self, configured: Path) -> None:
        store = get_catalog_store()
        assert store is get_catalog_store()
        assert store.path == configured.resolve()
        assert set(store.get().sets) == {"tech_majors"}


@pytest.fixture
def generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    script = ROOT / "scripts" / "generate_sample_fundamentals.py"
    spec = importlib.util.spec_from_file_location("generate_sample_fundamentals", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


class TestSampleFundamentals:
    def test_csv_starts_with_sample_data_label(self) -> None:
        first = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# SAMPLE DATA - synthetic fundamentals generated by ")
        assert first.endswith("not real market data.")

    def test_csv_covers_every_ticker_of_every_set(self, shipped: ScreenerCatalog) -> None:
        frame = pd.read_csv(SAMPLE_CSV, comment="#")
        assert list(frame.columns) == [
            "ticker", "name", "sector", "price", "market_cap", "pe_ratio", "pb_ratio",
            "debt_to_equity", "return_on_equity", "revenue_growth", "profit_margin",
            "dividend_yield", "beta", "volume", "as_of",
        ]  # fmt: skip
        assert frame["ticker"].is_unique
        for name, screener_set in shipped.sets.items():
            missing = set(screener_set.tickers) - set(frame["ticker"])
            assert not missing, f"{name}: regenerate the sample data, missing {sorted(missing)}"
        assert frame[["pe_ratio", "beta"]].isna().any().all()  # gaps on purpose

    def test_shipped_files_match_the_generator(self, tmp_path: Path, generator: ModuleType) -> None:
        generator.main(["--config", str(SHIPPED), "--out-dir", str(tmp_path)])
        regenerated = (tmp_path / "fundamentals.csv").read_text(encoding="utf-8")
        assert regenerated == SAMPLE_CSV.read_text(encoding="utf-8"), (
            "data/sample is stale: run python scripts/generate_sample_fundamentals.py"
        )
        metadata = pq.read_schema(SAMPLE_CSV.with_suffix(".parquet")).metadata
        assert metadata[b"flowdesk.sample_data"] == b"true"
        assert metadata[b"flowdesk.description"].startswith(b"SAMPLE DATA")
