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

The arithmetic runs on the columns' numpy arrays, not on pandas objects: for the few dozen
tickers of a run pandas' per-call overhead cost several times the maths. It gives the same
floats as the pandas formulation above bit for bit (tests/screening/test_engine.py keeps
that formulation as an oracle).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
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

# The columns the score reads.
_SCORED_COLUMNS = (
    "return_on_equity",
    "revenue_growth",
    "profit_margin",
    "pe_ratio",
    "debt_to_equity",
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ScreenResult:
    screened: int  # tickers with data
    passed: int  # of those, tickers passing every criterion, before the top_n cut
    rows: list[dict[str, Any]]  # ROW_KEYS each; NaN as None so the rows are JSON-safe
    missing: list[str]  # requested tickers the provider had no data for


def apply_filters(frame: pd.DataFrame, criteria: FilterCriteria) -> pd.Series[bool]:
    """True for the rows that satisfy every criterion given (NaN fails; P/E needs P/E > 0)."""
    given = criteria.given()
    columns = _arrays(frame, {CRITERION_BOUNDS[name][0] for name in given})
    return pd.Series(_passes(columns, given, len(frame)), index=frame.index, dtype=bool)


def score_components(frame: pd.DataFrame) -> pd.DataFrame:
    """The five percentile components, in [0, 1], NaN where the figure is missing."""
    return pd.DataFrame(_components(_arrays(frame, _SCORED_COLUMNS)), index=frame.index)


def score(frame: pd.DataFrame) -> pd.Series[float]:
    """The documented 0-100 score of every row (see the module docstring)."""
    return pd.Series(_score(_components(_arrays(frame, _SCORED_COLUMNS))), index=frame.index)


def screen(fundamentals: Fundamentals, criteria: FilterCriteria, top_n: int) -> ScreenResult:
    """Score the universe, keep the rows passing ``criteria``, rank them, cut at ``top_n``."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    universe = fundamentals.frame
    columns = _arrays(universe, FUNDAMENTAL_COLUMNS)
    scores = np.round(_score(_components(columns)), 2)
    passing = np.flatnonzero(_passes(columns, criteria.given(), len(universe)))
    tickers = universe.index.to_numpy()
    # Tickers are unique, so this order is total: equal shown scores never reorder.
    ranked = passing[np.lexsort((tickers[passing], -scores[passing]))]
    return ScreenResult(
        screened=len(universe),
        passed=len(passing),
        rows=_rows(ranked[:top_n], tickers, scores, columns),
        missing=list(fundamentals.missing),
    )


def result_to_csv(result: ScreenResult) -> str:
    """The shown rows as CSV, one column per ROW_KEYS entry; a missing value is empty.

    The csv module writes floats with repr(), the shortest form that reads back exactly,
    and None as an empty field: the text pandas' ``to_csv(index=False)`` gave these rows.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ROW_KEYS)
    writer.writerows([row[key] for key in ROW_KEYS] for row in result.rows)
    return out.getvalue()


def _arrays(frame: pd.DataFrame, columns: Iterable[str]) -> dict[str, npt.NDArray[Any]]:
    """Each named column as a numpy array (a view for the float64 ones)."""
    return {column: frame[column].to_numpy() for column in columns}


def _passes(
    columns: Mapping[str, FloatArray], given: Mapping[str, float], rows: int
) -> npt.NDArray[np.bool_]:
    """The filter mask of the module docstring over ``rows`` rows."""
    mask = np.ones(rows, dtype=bool)
    for name, bound in given.items():
        column, is_minimum = CRITERION_BOUNDS[name]
        values = columns[column]
        # float64 comparisons with NaN are False, which is exactly "cannot be verified".
        mask &= values >= bound if is_minimum else values <= bound
        if column == "pe_ratio":
            # A loss-maker's negative P/E is not "cheap": any P/E criterion needs earnings.
            mask &= values > 0
    return mask


def _components(columns: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """The five percentile components by name, NaN where the figure is missing."""
    pe = columns["pe_ratio"]
    earnings_yield = np.full(pe.shape, np.nan)
    with np.errstate(over="ignore"):  # a subnormal P/E gives inf, silently, as pandas did
        np.divide(1.0, pe, out=earnings_yield, where=pe > 0)
    return {
        "quality": _pct_rank(columns["return_on_equity"]),
        "growth": _pct_rank(columns["revenue_growth"]),
        "profitability": _pct_rank(columns["profit_margin"]),
        "value": _pct_rank(earnings_yield),
        "leverage": _pct_rank(-columns["debt_to_equity"]),
    }


def _score(components: Mapping[str, FloatArray]) -> FloatArray:
    """The weighted sum, NaN components as 0.

    Added one component at a time in SCORE_WEIGHTS order, the order pandas' row sum used,
    so that every score is the same float as before, not one ulp off.
    """
    total = np.zeros_like(components["quality"])
    for name, weight in SCORE_WEIGHTS.items():
        component = components[name]
        total += weight * np.where(np.isnan(component), 0.0, component)
    return total


def _pct_rank(values: FloatArray) -> FloatArray:
    """``Series.rank(pct=True)``: average 1-based rank of ties / count of non-NaN, NaN kept.

    Each average is a whole or half number, exact in a float, so the one division by the
    count rounds exactly as pandas' does.
    """
    ranks = np.full(values.shape, np.nan)
    present = np.flatnonzero(~np.isnan(values))
    if not present.size:
        return ranks
    order = present[np.argsort(values[present], kind="stable")]
    ordered = values[order]
    # Runs of equal values (ties); np.r_ would be simpler to read but costs more than the maths.
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    sizes = np.diff(np.append(starts, ordered.size))
    ranks[order] = np.repeat(starts + (sizes + 1) / 2, sizes) / ordered.size
    return ranks


def _rows(
    shown: npt.NDArray[np.intp],
    tickers: npt.NDArray[Any],
    scores: FloatArray,
    columns: Mapping[str, npt.NDArray[Any]],
) -> list[dict[str, Any]]:
    """The ``shown`` positions, in order, as ROW_KEYS dicts of plain Python values."""
    values = [
        range(1, len(shown) + 1),
        tickers[shown].tolist(),
        scores[shown].tolist(),
        *(_python_values(columns[column][shown]) for column in FUNDAMENTAL_COLUMNS),
    ]
    return [dict(zip(ROW_KEYS, row, strict=True)) for row in zip(*values, strict=True)]


def _python_values(values: npt.NDArray[Any]) -> list[Any]:
    """Python floats and strs, with None for NaN (the missing value of float and str columns)."""
    return [None if value != value else value for value in values.tolist()]  # NaN != NaN


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
