"""Liveness and readiness probes, which load balancers call without a key."""

from __future__ import annotations

import httpx

from tests.stack import Stack


class TestHealth:
    def test_live_api_is_ok(self, anonymous: httpx.Client) -> None:
        response = anonymous.get("/health")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok"}


class TestReady:
    def test_ready_when_database_and_prefect_answer(self, anonymous: httpx.Client) -> None:
        response = anonymous.get("/ready")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["prefect"] == "ok"
        assert set(body["checks"].values()) == {"ok"}
        assert body["screener_sets"] == "ok"

    def test_probes_ignore_a_bad_key(self, stack: Stack) -> None:
        headers = {"Authorization": "Bearer not-a-key"}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 200
