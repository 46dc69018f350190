"""Screener runs end to end: submitted over HTTP, executed as Prefect flow runs."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
)

from tests.factories import screener_request, submit_screener, wait_for_run
from tests.stack import Stack

CRITERIA = {
    "market_cap_min": 50_000_000_000,
    "pe_ratio_max": 45,
    "return_on_equity_min": 0.05,
    "beta_max": 2.0,
}

CHECKS = {
    "market_cap_min": ("market_cap", lambda v, c: v >= c),
    "market_cap_max": ("market_cap", lambda v, c: v <= c),
    "pe_ratio_min": ("pe_ratio", lambda v, c: v >= c),
    "pe_ratio_max": ("pe_ratio", lambda v, c: v <= c),
    "pb_ratio_max": ("pb_ratio", lambda v, c: v <= c),
    "debt_to_equity_max": ("debt_to_equity", lambda v, c: v <= c),
    "return_on_equity_min": ("return_on_equity", lambda v, c: v >= c),
    "revenue_growth_min": ("revenue_growth", lambda v, c: v >= c),
    "profit_margin_min": ("profit_margin", lambda v, c: v >= c),
    "dividend_yield_min": ("dividend_yield", lambda v, c: v >= c),
    "beta_max": ("beta", lambda v, c: v <= c),
    "volume_min": ("volume", lambda v, c: v >= c),
}


def assert_rows_pass(rows: list[dict[str, Any]], criteria: dict[str, float]) -> None:
    for row in rows:
        for name, limit in criteria.items():
            column, holds = CHECKS[name]
            value = row[column]
            assert value is not None, (row["ticker"], column)
            assert not math.isnan(value), (row["ticker"], column)
            assert holds(value, limit), f"{row['ticker']}: {column}={value} fails {name}={limit}"
            if column == "pe_ratio":
                assert value > 0, f"{row['ticker']}: a P/E criterion needs earnings"


async def _prefect_view(stack: Stack, flow_run_id: str, key: str) -> tuple[str, bool]:
    async with PrefectClient(stack.prefect_api_url) as client:
        flow_run = await client.read_flow_run(uuid.UUID(flow_run_id))
        artifact = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    assert flow_run.state_type is not None
    return flow_run.state_type.value, bool(artifact)


class TestScreenerRun:
    def test_set_run_completes_with_ranked_rows_that_pass_every_criterion(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        run_id = submit_screener(
            alice, filter_criteria=CRITERIA, top_n=8, screener_set="us_large_caps"
        )
        run = wait_for_run(alice, run_id)
        assert run["status"] == "completed", run
        rows = run["snapshot"]  # the snapshot holds the set expanded to its tickers
        assert len(rows["tickers"]) > 400
        results = alice.get(f"/api/runs/{run_id}/artifacts/results.json").json()["rows"]
        assert 0 < len(results) <= 8
        assert_rows_pass(results, CRITERIA)
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True)
        assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
        summary = run["result"]
        assert summary["screened"] >= summary["passed"] >= summary["returned"] == len(results)
        assert summary["sample_data"] is True
        assert {a["name"] for a in run["artifacts"]} == {
            "results.csv",
            "results.json",
            "summary.txt",
        }
        csv = alice.get(f"/api/runs/{run_id}/artifacts/results.csv")
        assert csv.status_code == 200
        assert csv.text.splitlines()[0].startswith("rank,ticker,score")
        assert run["prefect"]["flow_run_id"]
        assert run["prefect"]["ui_url"].endswith(f"/runs/flow-run/{run['prefect']['flow_run_id']}")
        assert run["started_at"]
        assert run["finished_at"]
        assert run["duration_seconds"] >= 0
        state, has_table = asyncio.run(
            _prefect_view(stack, run["prefect"]["flow_run_id"], f"screener-{run_id}")
        )
        assert state == "COMPLETED"
        assert has_table, "the Prefect UI shows the ranked rows as a table artifact"

    def test_ticker_list_with_preset_runs_the_merged_criteria(self, alice: httpx.Client) -> None:
        body = screener_request(
            screener_set=None,
            tickers=["AAPL", "MSFT", "NVDA", "AAPL"],
            preset="quality",
            filter_criteria={"beta_max": 3},
            top_n=3,
        )
        response = alice.post("/api/screeners/run", json=body)
        assert response.status_code == 202, response.text
        run = wait_for_run(alice, response.json()["run_id"])
        assert run["status"] == "completed", run
        snapshot = run["snapshot"]
        assert snapshot["tickers"] == ["AAPL", "MSFT", "NVDA"]
        assert snapshot["filter_criteria"]["beta_max"] == 3
        assert snapshot["preset"] == "quality"
        rows = alice.get(f"/api/runs/{run['run_id']}/artifacts/results.json").json()["rows"]
        assert_rows_pass(rows, snapshot["filter_criteria"])

    def test_same_idempotency_key_returns_the_same_run(self, alice: httpx.Client) -> None:
        headers = {"Idempotency-Key": "retry-safe-1"}
        first = alice.post("/api/screeners/run", json=screener_request(), headers=headers)
        second = alice.post("/api/screeners/run", json=screener_request(), headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.json()["run_id"] == second.json()["run_id"]
