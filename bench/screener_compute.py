"""Screener scoring, 10,000 synthetic tickers: row-wise ``apply`` (the seed's style) vs vectorised.

Not a test: ``python bench/screener_compute.py [--tickers N] [--repeat R]`` prints a table.
The seed's source is not in this repository (only its README is, under shared/seeds), so
the baseline is a reconstruction of its style: a Python function per row through
``DataFrame.apply(axis=1)``, computing the same documented score so both columns can be
checked against each other. DESIGN.md recorded 11.7 ms (row-wise) vs 1.3 ms (numpy) here.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from flowdesk.marketdata.base import FUNDAMENTAL_COLUMNS, conform
from flowdesk.screening.criteria import FilterCriteria
from flowdesk.screening.engine import SCORE_WEIGHTS, apply_filters, score

# Share of each numeric figure blanked out, about what Yahoo leaves empty for small caps.
NAN_SHARE = 0.05


def synthetic_universe(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw = pd.DataFrame(
        {
            "ticker": [f"T{i:05d}" for i in range(n)],
            "name": [f"Company {i}" for i in range(n)],
            "sector": rng.choice(["Technology", "Energy", "Health Care", "Financials"], n),
            "price": rng.lognormal(3.5, 1.0, n),
            "market_cap": rng.lognormal(22, 2, n),
            "pe_ratio": rng.normal(22, 15, n),  # about 7 % negative: loss makers
            "pb_ratio": rng.lognormal(1, 0.8, n),
            "debt_to_equity": rng.lognormal(-0.3, 0.9, n),
            "return_on_equity": rng.normal(0.12, 0.15, n),
            "revenue_growth": rng.normal(0.06, 0.2, n),
            "profit_margin": rng.normal(0.1, 0.12, n),
            "dividend_yield": rng.exponential(0.02, n),
            "beta": rng.normal(1.0, 0.4, n),
            "volume": rng.lognormal(13, 1.5, n),
            "as_of": "2026-11-20",
        }
    )
    numeric = raw.columns.difference(["ticker", "name", "sector", "as_of"])
    blank = rng.random((n, len(numeric))) < NAN_SHARE
    raw[numeric] = raw[numeric].mask(blank)
    return conform(raw[["ticker", *FUNDAMENTAL_COLUMNS]], "synthetic")


def rowwise_score(frame: pd.DataFrame) -> pd.Series:
    """The same score, one Python call per row as the seed did it."""

    def earnings_yield(row: pd.Series) -> float:
        pe = row["pe_ratio"]
        return 1.0 / pe if pe > 0 else math.nan  # NaN > 0 is False

    ranks = {
        "quality": frame["return_on_equity"].rank(pct=True),
        "growth": frame["revenue_growth"].rank(pct=True),
        "profitability": frame["profit_margin"].rank(pct=True),
        "value": frame.apply(earnings_yield, axis=1).rank(pct=True),
        "leverage": frame["debt_to_equity"].rank(pct=True, ascending=False),
    }

    lookup = {component: pct.to_dict() for component, pct in ranks.items()}

    def row_score(row: pd.Series) -> float:
        total = 0.0
        for component, weight in SCORE_WEIGHTS.items():
            pct = lookup[component][row.name]
            total += 0.0 if math.isnan(pct) else weight * pct
        return total

    return frame.apply(row_score, axis=1)


def timings_ms(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up: first calls pay for imports and caches
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    frame = synthetic_universe(args.tickers)
    criteria = FilterCriteria(market_cap_min=1e9, pe_ratio_max=30, return_on_equity_min=0.1)
    np.testing.assert_allclose(rowwise_score(frame), score(frame), rtol=1e-12, atol=1e-9)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("row-wise apply score (seed style)", lambda: rowwise_score(frame)),
        ("vectorised score (flowdesk)", lambda: score(frame)),
        ("vectorised filter mask (3 criteria)", lambda: apply_filters(frame, criteria)),
    ]
    results = [(label, timings_ms(fn, args.repeat)) for label, fn in cases]
    baseline = statistics.median(results[0][1])

    print(
        f"screener compute, {args.tickers:,} tickers, {args.repeat} runs each, "
        f"pandas {pd.__version__}; scores equal: yes"
    )
    print(f"{'implementation':<38} {'median ms':>10} {'min ms':>8} {'speed-up':>9}")
    for label, ms in results:
        median = statistics.median(ms)
        print(f"{label:<38} {median:>10.2f} {min(ms):>8.2f} {baseline / median:>8.1f}x")


if __name__ == "__main__":
    main()
