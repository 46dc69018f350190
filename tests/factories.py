"""Plain functions that build requests and wait on runs."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def poll_run(
    client: httpx.Client,
    run_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    interval: float,
    waiting_for: str,
) -> dict[str, Any]:
    """GET a run every `interval` s until `done(body)`; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/api/runs/{run_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if done(body):
            return body
        time.sleep(interval)
    raise AssertionError(f"run {run_id}: no {waiting_for} after {timeout} s: {body}")


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll a run until it is terminal."""
    return poll_run(
        client,
        run_id,
        lambda body: body["status"] in TERMINAL,
        timeout=timeout,
        interval=0.2,
        waiting_for="end",
    )


def wait_for_status(
    client: httpx.Client, run_id: str, statuses: set[str], timeout: float = 60
) -> dict[str, Any]:
    return poll_run(
        client,
        run_id,
        lambda body: body["status"] in statuses,
        timeout=timeout,
        interval=0.25,
        waiting_for=f"status in {sorted(statuses)}",
    )


def wait_for_flow_run(client: httpx.Client, run_id: str, timeout: float = 30) -> str:
    """The id of a run's Prefect flow run, which the API creates just after answering."""
    body = poll_run(
        client,
        run_id,
        lambda body: body["prefect"]["flow_run_id"] is not None,
        timeout=timeout,
        interval=0.05,
        waiting_for="flow run",
    )
    return str(body["prefect"]["flow_run_id"])
