"""Bad submissions are 422s that name the offending field, and leave no run behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.factories import screener_request
from tests.stack import Stack

NOT_JSON = b"screener_set=tech_majors"
JSON_HEADER = {"Content-Type": "application/json"}


def assert_names_field(
    response: httpx.Response, field: str, *, error: str = "InvalidRequest"
) -> dict[str, Any]:
    """A 422 whose `fields` and `detail` both name ``field``; the body, for further checks."""
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert field in [f["field"] for f in body["fields"]], body
    assert field in body["detail"], body
    return body


def message_of(body: dict[str, Any], field: str) -> str:
    return next(str(f["message"]) for f in body["fields"] if f["field"] == field)


class TestScreenerRunValidation:
    def test_unknown_criterion_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(filter_criteria={"pe_ratio_maxx": 20})
        response = alice.post("/api/screeners/run", json=body)
        found = assert_names_field(response, "filter_criteria.pe_ratio_maxx")
        assert "unknown field 'pe_ratio_maxx'" in message_of(found, "filter_criteria.pe_ratio_maxx")

    def test_non_numeric_criterion_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(filter_criteria={"pe_ratio_max": "cheap"})
        response = alice.post("/api/screeners/run", json=body)
        assert_names_field(response, "filter_criteria.pe_ratio_max")

    def test_negative_market_cap_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(filter_criteria={"market_cap_min": -1})
        response = alice.post("/api/screeners/run", json=body)
        assert_names_field(response, "filter_criteria.market_cap_min")

    def test_market_cap_min_above_max_is_422(self, alice: httpx.Client) -> None:
        criteria = {"market_cap_min": 2e9, "market_cap_max": 1e9}
        response = alice.post("/api/screeners/run", json=screener_request(filter_criteria=criteria))
        found = assert_names_field(response, "filter_criteria")
        message = message_of(found, "filter_criteria")
        assert "market_cap_min" in message
        assert "market_cap_max" in message

    @pytest.mark.parametrize("ticker", ["aapl", "AA PL", "$$$"])
    def test_malformed_ticker_is_422(self, alice: httpx.Client, ticker: str) -> None:
        body = screener_request(screener_set=None, tickers=["MSFT", ticker])
        response = alice.post("/api/screeners/run", json=body)
        assert_names_field(response, "tickers.1")

    def test_empty_ticker_list_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(screener_set=None, tickers=[])
        assert_names_field(alice.post("/api/screeners/run", json=body), "tickers")

    @pytest.mark.parametrize("top_n", [0, 501])
    def test_top_n_out_of_range_is_422(self, alice: httpx.Client, top_n: int) -> None:
        body = screener_request(top_n=top_n)
        assert_names_field(alice.post("/api/screeners/run", json=body), "top_n")

    def test_both_set_and_tickers_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(tickers=["AAPL"])
        response = alice.post("/api/screeners/run", json=body)
        assert response.status_code == 422, response.text
        assert "exactly one of 'screener_set' or 'tickers'" in response.json()["detail"]

    def test_neither_set_nor_tickers_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(screener_set=None)
        response = alice.post("/api/screeners/run", json=body)
        assert response.status_code == 422, response.text
        assert "exactly one of 'screener_set' or 'tickers'" in response.json()["detail"]

    def test_unknown_screener_set_is_422_listing_known_sets(self, alice: httpx.Client) -> None:
        body = screener_request(screener_set="tech_majorz")
        response = alice.post("/api/screeners/run", json=body)
        found = assert_names_field(response, "screener_set", error="InvalidRequest")
        message = message_of(found, "screener_set")
        assert "tech_majorz" in message
        assert "tech_majors" in message
        assert "us_large_caps" in message

    def test_unknown_preset_is_422_listing_known_presets(self, alice: httpx.Client) -> None:
        body = screener_request(preset="valu")
        response = alice.post("/api/screeners/run", json=body)
        found = assert_names_field(response, "preset", error="InvalidRequest")
        assert "quality" in message_of(found, "preset")

    def test_criteria_contradicting_the_preset_is_422(self, alice: httpx.Client) -> None:
        # The `value` preset has pe_ratio_max 15; an explicit pe_ratio_min 20 cannot hold.
        body = screener_request(preset="value", filter_criteria={"pe_ratio_min": 20})
        response = alice.post("/api/screeners/run", json=body)
        assert response.status_code == 422, response.text
        assert "pe_ratio_min" in response.json()["detail"]

    def test_unknown_top_level_field_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(limit=5)
        response = alice.post("/api/screeners/run", json=body)
        found = assert_names_field(response, "limit")
        assert message_of(found, "limit") == "unknown field 'limit'"

    def test_non_json_body_is_422(self, alice: httpx.Client) -> None:
        response = alice.post("/api/screeners/run", content=NOT_JSON, headers=JSON_HEADER)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "InvalidRequest"
        assert "JSON" in body["detail"]

    def test_non_json_body_names_the_body(self, alice: httpx.Client) -> None:
        response = alice.post("/api/screeners/run", content=NOT_JSON, headers=JSON_HEADER)
        assert [f["field"] for f in response.json()["fields"]] == ["body"]

    def test_unknown_priority_is_422(self, alice: httpx.Client) -> None:
        body = screener_request(priority="urgent")
        found = assert_names_field(alice.post("/api/screeners/run", json=body), "priority")
        assert "high" in message_of(found, "priority")


class TestReportRunValidation:
    def test_unknown_report_type_is_422_listing_known_types(self, alice: httpx.Client) -> None:
        response = alice.post("/api/reports/run", json={"report_type": "weekly_pnl"})
        found = assert_names_field(response, "report_type", error="InvalidRequest")
        assert "system_status" in found["detail"]

    def test_out_of_range_parameter_is_422(self, alice: httpx.Client) -> None:
        body = {"report_type": "system_status", "parameters": {"window_hours": 0}}
        response = alice.post("/api/reports/run", json=body)
        assert_names_field(response, "parameters.window_hours", error="InvalidRequest")

    def test_unknown_parameter_is_422(self, alice: httpx.Client) -> None:
        body = {"report_type": "system_status", "parameters": {"window_days": 2}}
        response = alice.post("/api/reports/run", json=body)
        assert_names_field(response, "parameters.window_days", error="InvalidRequest")

    def test_unknown_priority_is_422(self, alice: httpx.Client) -> None:
        body = {"report_type": "system_status", "priority": "urgent"}
        assert_names_field(alice.post("/api/reports/run", json=body), "priority")


REJECTED: list[tuple[str, dict[str, Any]]] = [
    ("/api/screeners/run", screener_request(filter_criteria={"pe_ratio_maxx": 1})),
    ("/api/screeners/run", screener_request(screener_set="no_such_set")),
    ("/api/screeners/run", screener_request(preset="no_such_preset")),
    ("/api/reports/run", {"report_type": "no_such_report"}),
    ("/api/reports/run", {"report_type": "system_status", "parameters": {"window_hours": 0}}),
]


@pytest.fixture(scope="module")
def newcomer(stack: Stack) -> Iterator[tuple[str, httpx.Client]]:
    """A user of its own, so its run count is not shared with other tests."""
    name = f"rejected-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {stack.create_user(name)}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as client:
        yield name, client


def runs_of(stack: Stack, name: str) -> int:
    url = stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(r.id) FROM runs r JOIN users u ON u.id = r.owner_id WHERE u.name = %s",
            (name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


class TestRejectedSubmission:
    def test_422_creates_no_run(self, stack: Stack, newcomer: tuple[str, httpx.Client]) -> None:
        name, client = newcomer
        statuses = [client.post(path, json=body).status_code for path, body in REJECTED]
        assert statuses == [422] * len(REJECTED)
        assert runs_of(stack, name) == 0
        # The count does see this user's runs: one accepted submission shows as one.
        accepted = client.post("/api/reports/run", json={"report_type": "system_status"})
        assert accepted.status_code == 202, accepted.text
        assert runs_of(stack, name) == 1
