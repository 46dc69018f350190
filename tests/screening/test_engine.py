"""The screening engine: filters at their boundaries, the documented score, the ranked result."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from flowdesk.marketdata.base import (
    FUNDAMENTAL_COLUMNS,
    TEXT_COLUMNS,
    Fundamentals,
    conform,
    empty_frame,
)
from flowdesk.screening.criteria import CRITERIA_NAMES, FilterCriteria
from flowdesk.screening.engine import (
    CRITERION_BOUNDS,
    ROW_KEYS,
    SCORE_WEIGHTS,
    ScreenResult,
    apply_filters,
    result_to_csv,
    score,
    score_components,
    screen,
    summary_text,
)

NAN = math.nan


def table(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """A fundamentals frame from {ticker: {column: value}}; unnamed columns are NaN."""
    records = [
        {"ticker": ticker, **{c: values.get(c, NAN) for c in FUNDAMENTAL_COLUMNS}}
        for ticker, values in rows.items()
    ]
    return conform(pd.DataFrame(records, columns=["ticker", *FUNDAMENTAL_COLUMNS]), "test")


def fundamentals(rows: dict[str, dict[str, Any]], missing: list[str] | None = None) -> Fundamentals:
    return Fundamentals(
        frame=table(rows), missing=missing or [], source="test", is_sample=False, as_of=None
    )


def passing(frame: pd.DataFrame, **criteria: float) -> list[str]:
    mask = apply_filters(frame, FilterCriteria(**criteria))
    return list(frame.index[mask])


# Hand-computed in test_three_rows_match_the_hand_computed_scores.
THREE = {
    "AAA": {
        "return_on_equity": 0.30,
        "revenue_growth": 0.10,
        "profit_margin": 0.20,
        "pe_ratio": 10.0,
        "debt_to_equity": 0.5,
    },
    "BBB": {
        "return_on_equity": 0.10,
        "revenue_growth": NAN,
        "profit_margin": 0.10,
        "pe_ratio": -5.0,
        "debt_to_equity": 2.0,
    },
    "CCC": {
        "return_on_equity": 0.20,
        "revenue_growth": 0.05,
        "profit_margin": 0.20,
        "pe_ratio": 20.0,
        "debt_to_equity": 1.0,
    },
}


class TestApplyFilters:
    def test_every_criterion_reads_a_fundamental_column(self) -> None:
        assert set(CRITERION_BOUNDS) == set(CRITERIA_NAMES)
        assert {column for column, _ in CRITERION_BOUNDS.values()} <= set(FUNDAMENTAL_COLUMNS)

    @pytest.mark.parametrize("criterion", CRITERIA_NAMES)
    def test_criterion_holds_at_its_bound_and_fails_beyond_it(self, criterion: str) -> None:
        column, is_minimum = CRITERION_BOUNDS[criterion]
        beyond = 9.99 if is_minimum else 10.01
        frame = table({"AT": {column: 10.0}, "BEYOND": {column: beyond}, "NONE": {}})

        assert passing(frame, **{criterion: 10.0}) == ["AT"]

    @pytest.mark.parametrize("criterion", CRITERIA_NAMES)
    def test_nan_fails_the_criterion_that_reads_it(self, criterion: str) -> None:
        column, _ = CRITERION_BOUNDS[criterion]
        frame = table({"NAN": {column: NAN}, "ALSO-NAN": {}})

        assert passing(frame, **{criterion: 0.0}) == []

    def test_no_criteria_passes_every_row_even_all_nan(self) -> None:
        frame = table({"FULL": {"pe_ratio": 12.0}, "EMPTY": {}})

        assert passing(frame) == ["FULL", "EMPTY"]

    def test_every_given_criterion_must_hold(self) -> None:
        frame = table(
            {
                "BOTH": {"market_cap": 5e9, "beta": 0.9},
                "CAP-ONLY": {"market_cap": 5e9, "beta": 1.5},
                "BETA-ONLY": {"market_cap": 5e8, "beta": 0.9},
            }
        )

        assert passing(frame, market_cap_min=1e9, beta_max=1.0) == ["BOTH"]

    def test_nan_in_an_unused_column_does_not_fail(self) -> None:
        frame = table({"PARTIAL": {"volume": 2e6, "beta": NAN}})

        assert passing(frame, volume_min=1e6) == ["PARTIAL"]


class TestScore:
    def test_three_rows_match_the_hand_computed_scores(self) -> None:
        # quality        AAA 3/3   BBB 1/3          CCC 2/3
        # growth         AAA 2/2   BBB NaN -> 0     CCC 1/2
        # profitability  AAA 2.5/3 BBB 1/3          CCC 2.5/3   (AAA and CCC tie at 0.20)
        # value (1/PE)   AAA 2/2   BBB P/E<0 -> 0   CCC 1/2
        # leverage       AAA 3/3   BBB 1/3          CCC 2/3     (lower D/E ranks higher)
        expected = {
            "AAA": 25 * 1 + 20 * 1 + 20 * 5 / 6 + 20 * 1 + 15 * 1,  # 96.67
            "BBB": 25 / 3 + 0 + 20 / 3 + 0 + 15 / 3,  # 20.00
            "CCC": 25 * 2 / 3 + 20 / 2 + 20 * 5 / 6 + 20 / 2 + 15 * 2 / 3,  # 63.33
        }

        scores = score(table(THREE))

        assert scores.to_dict() == pytest.approx(expected)
        assert round(scores["AAA"], 2) == 96.67

    def test_best_on_every_component_scores_exactly_100(self) -> None:
        frame = table(THREE)

        assert score(frame)["AAA"] < 100
        frame.loc["AAA", "profit_margin"] = 0.25
        assert score(frame)["AAA"] == 100.0

    @pytest.mark.parametrize("pe_ratio", [-5.0, 0.0, NAN])
    def test_non_positive_or_missing_pe_gives_zero_value(self, pe_ratio: float) -> None:
        frame = table({"CHEAP": {"pe_ratio": 8.0}, "ODD": {"pe_ratio": pe_ratio}})

        value = score_components(frame)["value"].fillna(0.0)

        assert value["ODD"] == 0.0
        assert value["CHEAP"] == 1.0

    def test_lower_pe_ranks_higher_on_value(self) -> None:
        frame = table({"CHEAP": {"pe_ratio": 8.0}, "DEAR": {"pe_ratio": 40.0}})

        assert score(frame)["CHEAP"] > score(frame)["DEAR"]

    def test_all_nan_row_scores_zero(self) -> None:
        assert score(table({**THREE, "EMPTY": {}}))["EMPTY"] == 0.0

    def test_score_does_not_depend_on_the_filters(self) -> None:
        data = fundamentals(THREE)

        everything = screen(data, FilterCriteria(), top_n=10)
        filtered = screen(data, FilterCriteria(pe_ratio_min=15), top_n=10)

        assert [r["ticker"] for r in filtered.rows] == ["CCC"]
        assert filtered.rows[0]["score"] == next(
            r["score"] for r in everything.rows if r["ticker"] == "CCC"
        )


class TestScreen:
    def test_rows_rank_by_score_descending(self) -> None:
        result = screen(fundamentals(THREE), FilterCriteria(), top_n=10)

        assert [(r["rank"], r["ticker"], r["score"]) for r in result.rows] == [
            (1, "AAA", 96.67),
            (2, "CCC", 63.33),
            (3, "BBB", 20.0),
        ]

    def test_equal_scores_rank_by_ticker_ascending(self) -> None:
        same = {"return_on_equity": 0.1, "pe_ratio": 10.0}
        data = fundamentals({"ZED": same, "ABC": same, "MID": same})

        result = screen(data, FilterCriteria(), top_n=10)

        assert [r["ticker"] for r in result.rows] == ["ABC", "MID", "ZED"]

    def test_top_n_cuts_the_rows_but_not_the_passed_count(self) -> None:
        result = screen(fundamentals(THREE), FilterCriteria(return_on_equity_min=0.15), top_n=1)

        assert (result.screened, result.passed) == (3, 2)
        assert [r["ticker"] for r in result.rows] == ["AAA"]

    def test_missing_tickers_are_reported(self) -> None:
        result = screen(fundamentals(THREE, missing=["GONE"]), FilterCriteria(), top_n=10)

        assert result.missing == ["GONE"]
        assert result.screened == 3

    def test_rows_carry_every_column_and_are_json_safe(self) -> None:
        result = screen(fundamentals(THREE), FilterCriteria(), top_n=10)

        bbb = result.rows[2]
        assert tuple(bbb) == ROW_KEYS
        assert bbb["revenue_growth"] is None
        assert bbb["name"] is None
        json.dumps(result.rows, allow_nan=False)

    def test_nothing_passing_gives_no_rows(self) -> None:
        result = screen(fundamentals(THREE), FilterCriteria(market_cap_min=1), top_n=10)

        assert (result.screened, result.passed, result.rows) == (3, 0, [])

    def test_top_n_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="top_n"):
            screen(fundamentals(THREE), FilterCriteria(), top_n=0)


class TestResultToCsv:
    def test_csv_has_a_header_and_one_line_per_row(self) -> None:
        result = screen(fundamentals(THREE), FilterCriteria(), top_n=10)

        parsed = list(csv.DictReader(io.StringIO(result_to_csv(result))))

        assert tuple(parsed[0]) == ROW_KEYS
        assert [(p["rank"], p["ticker"]) for p in parsed] == [
            ("1", "AAA"),
            ("2", "CCC"),
            ("3", "BBB"),
        ]
        assert parsed[2]["revenue_growth"] == ""

    def test_no_rows_still_gives_the_header(self) -> None:
        empty = ScreenResult(screened=0, passed=0, rows=[], missing=[])

        assert result_to_csv(empty).strip() == ",".join(ROW_KEYS)


class TestSummaryText:
    def test_summary_gives_counts_criteria_and_top_five(self) -> None:
        rows = {f"T{i}": {"return_on_equity": i / 100, "market_cap": 1e9} for i in range(7)}
        criteria = FilterCriteria(return_on_equity_min=0.01, market_cap_max=2e12)
        result = screen(fundamentals(rows, missing=["LOST"]), criteria, top_n=4)

        text = summary_text(result, criteria)

        assert "Screened 7 tickers; 6 passed; showing 4." in text
        assert "Criteria: market_cap <= 2,000,000,000,000; return_on_equity >= 0.01" in text
        assert "No data for 1 tickers: LOST." in text

    def test_summary_lists_at_most_five_leaders(self) -> None:
        rows = {f"T{i}": {"return_on_equity": i / 100, "name": f"Co {i}"} for i in range(7)}
        criteria = FilterCriteria(return_on_equity_min=0.01)
        result = screen(fundamentals(rows), criteria, top_n=6)

        text = summary_text(result, criteria)

        assert "1. T6" in text
        assert "5. T2" in text
        assert "6. T1" not in text
        assert "Co 6" in text

    def test_summary_without_criteria_says_so(self) -> None:
        result = screen(fundamentals(THREE), FilterCriteria(), top_n=10)

        assert "Criteria: none (every ticker passes)" in summary_text(result, FilterCriteria())


# The pandas implementation the numpy engine replaced, kept verbatim as the oracle: the
# engine must give the same floats bit for bit, the same rows and the same CSV text.


def reference_apply_filters(frame: pd.DataFrame, criteria: FilterCriteria) -> pd.Series[bool]:
    mask = pd.Series(True, index=frame.index, dtype=bool)
    for name, bound in criteria.given().items():
        column, is_minimum = CRITERION_BOUNDS[name]
        values = frame[column]
        mask &= values.ge(bound) if is_minimum else values.le(bound)
        if column == "pe_ratio":
            mask &= values.gt(0)
    return mask


def reference_score_components(frame: pd.DataFrame) -> pd.DataFrame:
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


def reference_score(frame: pd.DataFrame) -> pd.Series[float]:
    components = reference_score_components(frame).fillna(0.0)
    weights = pd.Series(SCORE_WEIGHTS)
    return components[weights.index].mul(weights, axis="columns").sum(axis="columns")


def reference_screen(
    fundamentals: Fundamentals, criteria: FilterCriteria, top_n: int
) -> ScreenResult:
    universe = fundamentals.frame
    scored = universe.assign(score=reference_score(universe).round(2))
    passing = scored[reference_apply_filters(universe, criteria)]
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


def reference_result_to_csv(result: ScreenResult) -> str:
    return pd.DataFrame(result.rows, columns=list(ROW_KEYS)).to_csv(index=False)


# Figures a universe draws from besides its continuous ones: repeats make ties, and the
# contract lets through infinities and signed zeros as well as NaN.
SPECIAL_FIGURES = [NAN, NAN, math.inf, -math.inf, 0.0, -0.0, 1.0, 1.0, 2.5, -3.0, 5e-324]
# Texts the CSV must quote, or not, as pandas did; None is a missing value.
TEXT_POOLS: dict[str, list[str | None]] = {
    "name": ["Acme, Inc.", 'The "Best" Co', "Société Générale", "Two\nLines", "", "Plain Co", None],
    "sector": ["Energy", "Technology", None],
    "as_of": ["2026-11-20", "2026-11-19", "2025-01-02", None],
}


def random_universe(seed: int, size: int, tied: bool = False) -> pd.DataFrame:
    """A conformed frame of ``size`` tickers in random order with every awkward figure.

    ``tied`` draws every figure from three values, so that whole rows and scores tie.
    """
    rng = np.random.default_rng(seed)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"))
    tickers: set[str] = set()
    while len(tickers) < size:
        length = int(rng.integers(1, 6))
        tickers.add(str(rng.choice(letters[:36])) + "".join(rng.choice(letters, length - 1)))
    raw: dict[str, Any] = {"ticker": rng.permutation(sorted(tickers))}
    for column in FUNDAMENTAL_COLUMNS:
        if column in TEXT_COLUMNS:
            pool = TEXT_POOLS[column]
            raw[column] = [pool[i] for i in rng.integers(0, len(pool), size)]
        elif tied:
            raw[column] = rng.choice([NAN, 1.0, 2.0], size)
        else:
            continuous = rng.normal(0, 10, size) * 10.0 ** rng.integers(-3, 13, size)
            coarse = np.round(rng.normal(0, 3, size))  # few distinct values: many ties
            special = rng.choice(SPECIAL_FIGURES, size)
            choice = rng.integers(0, 3, size)
            raw[column] = np.where(choice == 0, continuous, np.where(choice == 1, coarse, special))
    return conform(pd.DataFrame(raw, columns=["ticker", *FUNDAMENTAL_COLUMNS]), "random")


UNIVERSES = [
    *((seed, size, False) for seed, size in enumerate([1, 2, 3, 7, 20, 50, 50, 120, 400])),
    *((seed, size, True) for seed, size in enumerate([5, 50, 300], start=100)),
]

ORACLE_CRITERIA = [
    FilterCriteria(),
    FilterCriteria(pe_ratio_max=15),
    FilterCriteria(pe_ratio_min=0, pe_ratio_max=1e6),
    FilterCriteria(market_cap_min=0, return_on_equity_min=-1),
    FilterCriteria(debt_to_equity_max=1, beta_max=2, dividend_yield_min=0),
    FilterCriteria(volume_min=1e9, revenue_growth_min=0, profit_margin_min=0, pb_ratio_max=5),
    FilterCriteria(market_cap_min=1e300),  # nothing passes
]


def assert_same_floats(new: pd.Series[float], old: pd.Series[float]) -> None:
    pd.testing.assert_series_equal(new, old, check_exact=True)
    assert new.to_numpy().tobytes() == old.to_numpy().tobytes()  # tells -0.0 from 0.0


def assert_same_result(new: ScreenResult, old: ScreenResult) -> None:
    assert (new.screened, new.passed, new.missing) == (old.screened, old.passed, old.missing)
    assert new.rows == old.rows
    # repr tells 1 from 1.0, numpy from Python scalars, and any float bit from another.
    assert repr(new.rows) == repr(old.rows)
    assert result_to_csv(new) == reference_result_to_csv(old)


class TestAgainstThePandasImplementation:
    @pytest.mark.parametrize(("seed", "size", "tied"), UNIVERSES)
    def test_components_and_score_are_the_same_floats(
        self, seed: int, size: int, tied: bool
    ) -> None:
        frame = random_universe(seed, size, tied)

        new, old = score_components(frame), reference_score_components(frame)

        pd.testing.assert_frame_equal(new, old, check_exact=True)
        for component in old.columns:
            assert_same_floats(new[component], old[component])
        assert_same_floats(score(frame), reference_score(frame))

    @pytest.mark.parametrize(("seed", "size", "tied"), UNIVERSES)
    @pytest.mark.parametrize("criteria", ORACLE_CRITERIA)
    def test_filters_give_the_same_mask(
        self, seed: int, size: int, tied: bool, criteria: FilterCriteria
    ) -> None:
        frame = random_universe(seed, size, tied)

        new, old = apply_filters(frame, criteria), reference_apply_filters(frame, criteria)

        pd.testing.assert_series_equal(new, old, check_exact=True)

    @pytest.mark.parametrize(("seed", "size", "tied"), UNIVERSES)
    @pytest.mark.parametrize("criteria", ORACLE_CRITERIA)
    @pytest.mark.parametrize("top_n", [1, 3, 25, 1000])
    def test_screen_gives_the_same_rows_and_csv(
        self, seed: int, size: int, tied: bool, criteria: FilterCriteria, top_n: int
    ) -> None:
        data = Fundamentals(
            frame=random_universe(seed, size, tied),
            missing=["GONE", "LOST"],
            source="test",
            is_sample=False,
            as_of=None,
        )

        assert_same_result(screen(data, criteria, top_n), reference_screen(data, criteria, top_n))

    def test_rows_hold_plain_python_values(self) -> None:
        data = fundamentals({"AAA": {"price": 1.0, "name": "A"}, "BBB": {}})

        rows = screen(data, FilterCriteria(), top_n=10).rows

        assert [type(rows[0][key]) for key in ("rank", "ticker", "score", "price", "name")] == [
            int,
            str,
            float,
            float,
            str,
        ]
        assert rows[1]["price"] is None
        assert rows[1]["name"] is None

    @pytest.mark.parametrize("criteria", ORACLE_CRITERIA[:2])
    def test_empty_universe(self, criteria: FilterCriteria) -> None:
        data = Fundamentals(
            frame=empty_frame(), missing=["GONE"], source="test", is_sample=False, as_of=None
        )

        new = screen(data, criteria, top_n=5)

        assert_same_result(new, reference_screen(data, criteria, top_n=5))
        assert (new.screened, new.passed, new.rows) == (0, 0, [])
        assert_same_floats(score(data.frame), reference_score(data.frame))
        pd.testing.assert_frame_equal(
            score_components(data.frame), reference_score_components(data.frame)
        )
        pd.testing.assert_series_equal(
            apply_filters(data.frame, criteria), reference_apply_filters(data.frame, criteria)
        )

    def test_csv_of_hand_made_rows(self) -> None:
        # A float column with a None, a column all None, and floats repr writes in e-notation.
        rows = [
            {key: None for key in ROW_KEYS} | {"rank": 1, "ticker": "A", "score": 1e16},
            {key: None for key in ROW_KEYS}
            | {"rank": 2, "ticker": "B", "score": 0.0, "price": 1e-05, "volume": 3e12},
        ]
        result = ScreenResult(screened=2, passed=2, rows=rows, missing=[])

        assert result_to_csv(result) == reference_result_to_csv(result)
