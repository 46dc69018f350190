"""The screening engine: filters at their boundaries, the documented score, the ranked result."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import pandas as pd
import pytest

from flowdesk.marketdata.base import FUNDAMENTAL_COLUMNS, Fundamentals, conform
from flowdesk.screening.criteria import CRITERIA_NAMES, FilterCriteria
from flowdesk.screening.engine import (
    CRITERION_BOUNDS,
    ROW_KEYS,
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
