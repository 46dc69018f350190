"""Fundamentals from a CSV or Parquet snapshot on disk, parsed once per process per file version."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no stubs

from flowdesk.marketdata.base import (
    Fundamentals,
    MarketDataError,
    conform,
    latest_as_of,
    normalise_tickers,
)

SAMPLE_MARKER = "SAMPLE DATA"
# Parquet metadata keys that describe the schema, not the data: never a sample label.
_SCHEMA_METADATA_KEYS = {b"pandas", b"ARROW:schema"}


@dataclass(frozen=True)
class Table:
    """A parsed snapshot file. Shared between runs through the cache: never mutate ``frame``."""

    frame: pd.DataFrame
    is_sample: bool

    @cached_property
    def positions(self) -> dict[str, int]:
        """Row position of each ticker: a dict lookup per requested ticker, not an isin scan."""
        return {ticker: position for position, ticker in enumerate(self.frame.index)}


# One entry per path, replaced when the file's (mtime_ns, size) changes. Screener runs in
# one worker process call the provider again and again with the same file; re-parsing it
# each time is the cost this avoids. Guarded by a lock because task runners use threads.
_cache: dict[str, tuple[tuple[int, int], Table]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every parsed file (tests, or a process that wants the memory back)."""
    with _cache_lock:
        _cache.clear()


class FileProvider:
    """Reads ``path`` (``.csv`` or ``.parquet``) in the fundamentals format."""

    name = "file"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in {".csv", ".parquet"}:
            raise MarketDataError(
                f"market data file {self.path} must end in .csv or .parquet "
                "(FLOWDESK_MARKET_DATA_PATH)"
            )

    @property
    def source(self) -> str:
        return f"file:{self.path}"

    def table(self) -> Table:
        """The whole parsed file, from the cache while the file is unchanged on disk."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise MarketDataError(
                f"market data file not found: {self.path} (set FLOWDESK_MARKET_DATA_PATH)"
            ) from None
        key, version = str(self.path), (stat.st_mtime_ns, stat.st_size)
        with _cache_lock:
            cached = _cache.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
        # Parsed outside the lock: two threads may parse the same new version once each,
        # which is cheaper than serialising every reader behind one slow parse.
        table = _read(self.path)
        with _cache_lock:
            _cache[key] = (version, table)
        return table

    def fundamentals(self, tickers: Sequence[str]) -> Fundamentals:
        table = self.table()
        wanted = normalise_tickers(tickers)
        positions = table.positions
        # Request order, so the same request gives the same frame whatever the file's order.
        frame = table.frame.take([positions[t] for t in wanted if t in positions])
        return Fundamentals(
            frame=frame,
            missing=[t for t in wanted if t not in positions],
            source=self.source,
            is_sample=table.is_sample,
            as_of=latest_as_of(frame),
        )


def _read(path: Path) -> Table:
    try:
        if path.suffix.lower() == ".parquet":
            raw, is_sample = _read_parquet(path)
        else:
            raw, is_sample = _read_csv(path)
    except (OSError, ValueError) as exc:  # pandas' parser errors subclass ValueError
        raise MarketDataError(f"cannot read market data file {path}: {exc}") from exc
    # conform() adds the columns one by one, a pandas block each; copy() consolidates the
    # float64 ones into one block, which makes every request's take() about 40 % cheaper.
    return Table(frame=conform(raw, str(path)).copy(), is_sample=is_sample)


def _read_csv(path: Path) -> tuple[pd.DataFrame, bool]:
    # Only the leading '#' lines are comments. read_csv(comment="#") would also cut a
    # data line at any '#', so "Acme #1 Holdings" would silently shift the row's values.
    comments: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            comments.append(line)
    text_columns = {"ticker": "str", "name": "str", "sector": "str", "as_of": "str"}
    raw = pd.read_csv(path, skiprows=len(comments), dtype=text_columns, encoding="utf-8")
    return raw, any(SAMPLE_MARKER in line for line in comments)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, bool]:
    metadata = pq.read_schema(path).metadata or {}
    is_sample = any(
        SAMPLE_MARKER in value.decode("utf-8", errors="replace")
        for key, value in metadata.items()
        if key not in _SCHEMA_METADATA_KEYS
    )
    raw = pd.read_parquet(path)
    if "ticker" not in raw.columns and raw.index.name == "ticker":
        raw = raw.reset_index()
    return raw, is_sample
