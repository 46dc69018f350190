"""Plain functions that build requests and wait on runs."""

from __future__ import annotations

import time
from typing import Any

import httpx

TERMINAL = {"completed", "failed", "cancelled", "crashed", "skipped", "dead_lettered"}


def screener_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "screener_set": "tech_majors",
        "filter_criteria": {"market_cap_min": 1_000_000_000, "pe_ratio_max": 40},
        "top_n": 10,
    }
    body.update(overrides)
    return body


def submit_screener(client: httpx.Client, **overrides: Any) -> str:
    response = client.post("/api/screeners/run", json=screener_request(**overrides))
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll a run until it is terminal; the last body if it never gets there."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/api/runs/{run_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in TERMINAL:
            return body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not finished after {timeout} s: {body}")


def wait_for_status(
    client: httpx.Client, run_id: str, statuses: set[str], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/runs/{run_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} never reached {statuses}: {body}")
