"""Screening: the criteria as a vectorised mask, the documented score, the ranked result.

Filtering. Every criterion given must hold; ``<column>_min`` means ``column >= bound`` and
``<column>_max`` means ``column <= bound``. A NaN in the column a criterion reads fails that
criterion: the figure cannot be verified. A P/E criterion also requires P/E > 0 (a
loss-maker's negative P/E is not cheap). No criteria at all passes every row.

Score, 0-100, computed over the whole screened universe (every ticker with data, before
any filter) so that a ticker's score does not depend on which filters were used::

    pct(x)  = x.rank(pct=True)   average rank of ties / count of non-NaN values, in (0, 1]
    quality       = pct(return_on_equity)
    growth        = pct(revenue_growth)
    profitability = pct(profit_margin)
    value         = pct(1 / pe_ratio)    pe_ratio <= 0 or NaN -> NaN earnings yield
    leverage      = pct(-debt_to_equity) lower debt_to_equity ranks higher

    score = 25 * quality + 20 * growth + 20 * profitability + 20 * value + 15 * leverage

where a NaN component (a missing figure, or a P/E <= 0) counts as 0, i.e. below the worst
ranked value. The weights are 0.25/0.20/0.20/0.20/0.15 written as percentage points, so
that a ticker best on every component scores exactly 100.

Ranking. Passing rows sort by score rounded to 2 dp descending, then ticker ascending: the
order is the one the shown scores explain, and equal shown scores never reorder between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from flowdesk.marketdata.base import FUNDAMENTAL_COLUMNS, Fundamentals
from flowdesk.screening.criteria import CRITERIA_NAMES, FilterCriteria

# Criterion name -> (column, is_minimum): "market_cap_min" -> ("market_cap", True).
CRITERION_BOUNDS: dict[str, tuple[str, bool]] = {
    name: (name.rsplit("_", 1)[0], name.endswith("_min")) for name in CRITERIA_NAMES
}

# Component weights in percentage points; they sum to 100.
SCORE_WEIGHTS: dict[str, float] = {
    "quality": 25,
    "growth": 20,
    "profitability": 20,
    "value": 20,
    "leverage": 15,
}

ROW_KEYS: tuple[str, ...] = ("rank", "ticker", "score", *FUNDAMENTAL_COLUMNS)


@dataclass(frozen=True)
class ScreenResult:
    screened: int  # tickers with data
    passed: int  # of those, tickers passing every criterion, before the top_n cut
    rows: list[dict[str, Any]]  # ROW_KEYS each; NaN as None so the rows are JSON-safe
    missing: list[str]  # requested tickers the provider had no data for


def apply_filters(frame: pd.DataFrame, criteria: FilterCriteria) -> pd.Series[bool]:
    """True for the rows that satisfy every criterion given (NaN fails; P/E needs P/E > 0)."""
    mask = pd.Series(True, index=frame.index, dtype=bool)
    for name, bound in criteria.given().items():
        column, is_minimum = CRITERION_BOUNDS[name]
        values = frame[column]
        # float64 comparisons with NaN are False, which is exactly "cannot be verified".
        mask &= values.ge(bound) if is_minimum else values.le(bound)
        if column == "pe_ratio":
            # A loss-maker's negative P/E is not "cheap": any P/E criterion needs earnings.
            mask &= values.gt(0)
    return mask


def score_components(frame: pd.DataFrame) -> pd.DataFrame:
    """The five percentile components, in [0, 1], NaN where the figure is missing."""
    pe = frame["pe_ratio"]
    earnings_yield = (1.0 / pe).where(pe > 0)
    return pd.DataFrame(
        {
            "quality": frame["return_on_equity"].rank(pct=True),
            "growth": frame["revenue_growth"].rank(pct=True),
            "profitability": frame["profit_margin"].rank(pct=True),
            "value": earnings_yield.rank(pct=True),
            "leverage": frame["debt_to_equity"].rank(pct=True, ascending=False),
        },
        index=frame.index,
    )


def score(frame: pd.DataFrame) -> pd.Series[float]:
    """The documented 0-100 score of every row (see the module docstring)."""
    components = score_components(frame).fillna(0.0)
    weights = pd.Series(SCORE_WEIGHTS)
    return components[weights.index].mul(weights, axis="columns").sum(axis="columns")


def screen(fundamentals: Fundamentals, criteria: FilterCriteria, top_n: int) -> ScreenResult:
    """Score the universe, keep the rows passing ``criteria``, rank them, cut at ``top_n``."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    universe = fundamentals.frame
    scored = universe.assign(score=score(universe).round(2))
    passing = scored[apply_filters(universe, criteria)]
    ranked = (
        passing.reset_index()
        .sort_values(["score", "ticker"], ascending=[False, True], kind="stable")
        .head(top_n)
    )
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    shown = ranked[list(ROW_KEYS)].astype(object)
    rows = shown.where(shown.notna(), None).to_dict("records")
    return ScreenResult(
        screened=len(universe),
        passed=len(passing),
        rows=[{str(k): v for k, v in row.items()} for row in rows],
        missing=list(fundamentals.missing),
    )


def result_to_csv(result: ScreenResult) -> str:
    """The shown rows as CSV, one column per ROW_KEYS entry; a missing value is empty."""
    return pd.DataFrame(result.rows, columns=list(ROW_KEYS)).to_csv(index=False)


def describe_criteria(criteria: FilterCriteria) -> list[str]:
    """Each criterion given as ``column >= bound`` / ``column <= bound``."""
    described = []
    for name, bound in criteria.given().items():
        column, is_minimum = CRITERION_BOUNDS[name]
        described.append(f"{column} {'>=' if is_minimum else '<='} {_number(bound)}")
    return described


def _number(value: float) -> str:
    # 10,000,000,000 rather than 1e+10: market caps and volumes are read by people.
    return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:g}"


def summary_text(result: ScreenResult, criteria: FilterCriteria) -> str:
    """A few lines for people: counts, the criteria used, the top 5."""
    lines = [
        f"Screened {result.screened} tickers; {result.passed} passed; showing {len(result.rows)}.",
        "Criteria: " + ("; ".join(describe_criteria(criteria)) or "none (every ticker passes)"),
    ]
    if result.missing:
        shown = ", ".join(result.missing[:10])
        more = f" and {len(result.missing) - 10} more" if len(result.missing) > 10 else ""
        lines.append(f"No data for {len(result.missing)} tickers: {shown}{more}.")
    if result.rows:
        lines.append(f"Top {min(5, len(result.rows))}:")
        for row in result.rows[:5]:
            name = f"  {row['name']}" if row["name"] else ""
            lines.append(f"  {row['rank']}. {row['ticker']}  {row['score']:.2f}{name}")
    return "\n".join(lines)
