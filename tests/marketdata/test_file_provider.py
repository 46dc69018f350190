"""FileProvider: CSV and Parquet snapshots, column checks, the in-process cache, sample labels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from flowdesk.marketdata import FileProvider, MarketDataError, get_provider
from flowdesk.marketdata.base import (
    FUNDAMENTAL_COLUMNS,
    NUMERIC_COLUMNS,
    conform,
    normalise_tickers,
)
from flowdesk.marketdata.file_provider import clear_cache
from flowdesk.settings import Settings

HEADER = ",".join(["ticker", *FUNDAMENTAL_COLUMNS])
AAPL = (
    "AAPL,Apple Inc.,Technology,228.1,3.4e12,34.9,51.4,1.54,1.50,0.096,0.243,0.0045,1.21,"
    "5.5e7,2025-08-21"
)
MSFT = (
    "MSFT,Microsoft,Technology,505.0,3.7e12,37.1,11.2,0.33,0.33,0.18,0.36,0.0066,1.04,"
    "2.1e7,2025-08-20"
)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def write_csv(path: Path, *lines: str, comment: str | None = None) -> Path:
    text = (f"# {comment}\n" if comment else "") + "\n".join([HEADER, *lines]) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def frame(**overrides: Any) -> pd.DataFrame:
    row: dict[str, Any] = {c: 1.0 for c in NUMERIC_COLUMNS}
    row.update(ticker="AAPL", name="Apple Inc.", sector="Technology", as_of="2025-08-21")
    row.update(overrides)
    return pd.DataFrame([row], columns=["ticker", *FUNDAMENTAL_COLUMNS])


class TestFileProviderCsv:
    def test_csv_gives_rows_for_found_tickers_in_request_order(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL, MSFT)

        data = FileProvider(path).fundamentals(["MSFT", "AAPL", "NOPE"])

        assert list(data.frame.index) == ["MSFT", "AAPL"]
        assert data.frame.index.name == "ticker"
        assert tuple(data.frame.columns) == FUNDAMENTAL_COLUMNS
        assert all(data.frame[c].dtype == "float64" for c in NUMERIC_COLUMNS)
        assert data.frame.loc["AAPL", "return_on_equity"] == 1.50
        assert data.missing == ["NOPE"]
        assert data.source == f"file:{path}"
        assert data.as_of == "2025-08-21"

    def test_lower_case_tickers_are_normalised(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL.replace("AAPL", "aapl"))

        data = FileProvider(path).fundamentals([" aapl ", "AAPL"])

        assert list(data.frame.index) == ["AAPL"]
        assert data.missing == []

    def test_empty_fields_are_nan(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", "XOM,,Energy,,,,,,,,,,,,")

        row = FileProvider(path).fundamentals(["XOM"]).frame.loc["XOM"]

        assert row["sector"] == "Energy"
        assert pd.isna(row["pe_ratio"])
        assert pd.isna(row["name"])

    def test_hash_inside_a_name_does_not_shift_the_row(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL.replace("Apple Inc.", "Acme #1 Holdings"))

        row = FileProvider(path).fundamentals(["AAPL"]).frame.loc["AAPL"]

        assert row["name"] == "Acme #1 Holdings"
        assert row["price"] == 228.1

    def test_text_in_a_numeric_column_is_an_error(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL.replace("34.9", "n/m"))

        with pytest.raises(MarketDataError, match=r"pe_ratio has non-numeric values: AAPL='n/m'"):
            FileProvider(path).fundamentals(["AAPL"])

    def test_duplicate_tickers_after_upper_casing_are_an_error(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL, AAPL.replace("AAPL", "aapl"))

        with pytest.raises(MarketDataError, match="duplicate tickers: AAPL"):
            FileProvider(path).fundamentals(["AAPL"])


class TestFileProviderErrors:
    def test_missing_columns_error_names_the_file_and_the_columns(self, tmp_path: Path) -> None:
        path = tmp_path / "short.csv"
        pd.read_csv(write_csv(path, AAPL)).drop(columns=["beta", "volume"]).to_csv(
            path, index=False
        )

        with pytest.raises(MarketDataError) as caught:
            FileProvider(path).fundamentals(["AAPL"])

        assert str(path) in caught.value.detail
        assert "lacks columns: beta, volume" in caught.value.detail
        assert caught.value.extra["missing_columns"] == ["beta", "volume"]

    def test_absent_file_is_an_error_naming_the_setting(self, tmp_path: Path) -> None:
        with pytest.raises(MarketDataError, match="FLOWDESK_MARKET_DATA_PATH"):
            FileProvider(tmp_path / "none.csv").fundamentals(["AAPL"])

    def test_unknown_suffix_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(MarketDataError, match=r"\.csv or \.parquet"):
            FileProvider(tmp_path / "data.xlsx")


class TestFileProviderParquet:
    def test_parquet_gives_the_same_table_as_csv(self, tmp_path: Path) -> None:
        csv_path = write_csv(tmp_path / "f.csv", AAPL, MSFT)
        parquet_path = tmp_path / "f.parquet"
        pd.read_csv(csv_path).to_parquet(parquet_path, index=False)

        from_csv = FileProvider(csv_path).fundamentals(["AAPL", "MSFT"])
        from_parquet = FileProvider(parquet_path).fundamentals(["AAPL", "MSFT"])

        pd.testing.assert_frame_equal(from_parquet.frame, from_csv.frame)
        assert from_parquet.is_sample is False

    def test_parquet_with_ticker_as_index_is_read(self, tmp_path: Path) -> None:
        path = tmp_path / "f.parquet"
        frame(ticker="msft").set_index("ticker").to_parquet(path)

        data = FileProvider(path).fundamentals(["MSFT"])

        assert list(data.frame.index) == ["MSFT"]


class TestFileProviderCache:
    def test_unchanged_file_is_parsed_once_per_process(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL)

        first = FileProvider(path).table()
        second = FileProvider(path).table()  # a new provider, as each run makes one

        assert second is first

    def test_changed_file_is_read_again(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL)
        provider = FileProvider(path)
        before = provider.table()
        mtime_ns = path.stat().st_mtime_ns

        write_csv(path, AAPL.replace("228.1", "230.0"))
        # Same size, and a coarse file-system clock could repeat the mtime: move it on by 1 s.
        os.utime(path, ns=(mtime_ns + 1_000_000_000, mtime_ns + 1_000_000_000))
        after = provider.table()

        assert after is not before
        assert after.frame.loc["AAPL", "price"] == 230.0
        assert provider.table() is after

    def test_callers_changing_their_frame_do_not_change_the_cache(self, tmp_path: Path) -> None:
        provider = FileProvider(write_csv(tmp_path / "f.csv", AAPL))

        mine = provider.fundamentals(["AAPL"]).frame
        mine.loc["AAPL", "price"] = -1.0

        assert provider.fundamentals(["AAPL"]).frame.loc["AAPL", "price"] == 228.1


class TestFileProviderSampleLabel:
    def test_csv_with_sample_comment_is_sample(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL, comment="SAMPLE DATA - synthetic, not prices")

        assert FileProvider(path).fundamentals(["AAPL"]).is_sample is True

    def test_csv_with_another_comment_is_not_sample(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL, comment="vendor export 2025-08-21")

        assert FileProvider(path).fundamentals(["AAPL"]).is_sample is False

    def test_parquet_schema_metadata_marks_sample(self, tmp_path: Path) -> None:
        path = tmp_path / "f.parquet"
        table = pa.Table.from_pandas(frame(), preserve_index=False)
        metadata = {**(table.schema.metadata or {}), b"flowdesk": b"SAMPLE DATA - synthetic"}
        pq.write_table(table.replace_schema_metadata(metadata), path)

        assert FileProvider(path).fundamentals(["AAPL"]).is_sample is True

    def test_parquet_frame_attrs_mark_sample(self, tmp_path: Path) -> None:
        path = tmp_path / "f.parquet"
        labelled = frame()
        labelled.attrs["note"] = "SAMPLE DATA - synthetic"
        labelled.to_parquet(path, index=False)

        assert FileProvider(path).fundamentals(["AAPL"]).is_sample is True


class TestGetProvider:
    def test_file_setting_gives_a_file_provider_on_the_configured_path(
        self, tmp_path: Path
    ) -> None:
        path = write_csv(tmp_path / "f.csv", AAPL)
        settings = Settings(market_data_provider="file", market_data_path=path)

        provider = get_provider(settings)

        assert isinstance(provider, FileProvider)
        assert provider.fundamentals(["AAPL"]).source == f"file:{path.resolve()}"


def reference_selection(
    frame: pd.DataFrame, tickers: list[str]
) -> tuple[pd.DataFrame, list[str], str | None]:
    """The frame, missing list and as_of fundamentals() gave with isin and .loc, the oracle."""
    wanted = normalise_tickers(tickers)
    present = frame.index.isin(wanted)
    found = set(frame.index[present])
    selected = frame.loc[[t for t in wanted if t in found]]
    dates = selected["as_of"].dropna()
    as_of = str(dates.max()) if len(dates) else None
    return selected, [t for t in wanted if t not in found], as_of


def random_raw(seed: int, size: int, as_of_pool: list[str | None]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw: dict[str, Any] = {"ticker": [f"T{i}" for i in rng.permutation(size)]}
    for column in FUNDAMENTAL_COLUMNS:
        if column == "as_of":
            raw[column] = [as_of_pool[i] for i in rng.integers(0, len(as_of_pool), size)]
        elif column in ("name", "sector"):
            raw[column] = [None if rng.random() < 0.2 else f"{column} {i}" for i in range(size)]
        else:
            raw[column] = np.where(rng.random(size) < 0.2, np.nan, rng.normal(0, 100, size))
    return pd.DataFrame(raw, columns=["ticker", *FUNDAMENTAL_COLUMNS])


def random_requests(seed: int, size: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    known = [f"T{i}" for i in range(size)]
    requests: list[list[str]] = [[], ["NOPE", "GONE"], known, known[::-1]]
    for _ in range(20):
        picked = [str(t) for t in rng.choice([*known, "NOPE", "ZZ.Z"], int(rng.integers(1, 30)))]
        requests.append([f" {t.lower()} " if rng.random() < 0.2 else t for t in picked])
    return requests


class TestFundamentalsAgainstIsinAndLoc:
    @pytest.mark.parametrize(
        ("seed", "size", "as_of_pool"),
        [
            (1, 1, ["2026-11-20"]),
            (2, 12, ["2026-11-20", "2026-11-19", "2025-01-02", None]),
            (3, 80, ["2026-11-20", None]),
            (4, 30, [None]),
        ],
    )
    def test_same_frame_missing_and_as_of(
        self, tmp_path: Path, seed: int, size: int, as_of_pool: list[str | None]
    ) -> None:
        path = tmp_path / "f.parquet"
        raw = random_raw(seed, size, as_of_pool)
        raw.to_parquet(path, index=False)
        parsed = conform(raw, str(path))
        provider = FileProvider(path)

        pd.testing.assert_frame_equal(provider.table().frame, parsed, check_exact=True)
        for request in random_requests(seed, size):
            data = provider.fundamentals(request)
            frame, missing, as_of = reference_selection(parsed, request)

            pd.testing.assert_frame_equal(
                data.frame, frame, check_exact=True, check_index_type=True
            )
            assert data.frame.index.name == frame.index.name
            assert (data.missing, data.as_of) == (missing, as_of)
