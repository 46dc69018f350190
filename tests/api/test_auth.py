"""Who may call what: API keys on every endpoint, and runs visible only to their owner."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import screener_request, submit_screener, wait_for_run
from tests.stack import Stack

# A well-formed key (fd_<12 hex>_<43 urlsafe>) that was never issued.
UNKNOWN_KEY = "fd_0123456789ab_" + "A" * 43
MISSING_RUN = "00000000-0000-4000-8000-000000000000"

# Each authenticated endpoint, with a body that would be accepted from a known caller.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/screener-sets", None),
    ("POST", "/api/screeners/run", screener_request()),
    ("GET", f"/api/runs/{MISSING_RUN}", None),
    ("DELETE", f"/api/runs/{MISSING_RUN}", None),
    ("POST", "/api/reports/run", {"report_type": "system_status"}),
]
ENDPOINT_IDS = [f"{method} {path.split('/api/')[1]}" for method, path, _ in ENDPOINTS]


def _call(
    stack: Stack, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as client:
        return client.request(method, path, json=body)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "Unauthorized"
    assert response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.fixture(scope="module")
def revoked_key(stack: Stack) -> str:
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    key = stack.create_user(name)
    stack.cli("users", "revoke", name)
    return key


class TestApiKeyRequired:
    @pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_missing_header_is_401(
        self, stack: Stack, method: str, path: str, body: dict[str, Any] | None
    ) -> None:
        assert_unauthorized(_call(stack, method, path, body, {}))

    @pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_malformed_key_is_401(
        self, stack: Stack, method: str, path: str, body: dict[str, Any] | None
    ) -> None:
        headers = {"Authorization": "Bearer not-a-flowdesk-key"}
        assert_unauthorized(_call(stack, method, path, body, headers))

    @pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_unknown_well_formed_key_is_401(
        self, stack: Stack, method: str, path: str, body: dict[str, Any] | None
    ) -> None:
        headers = {"Authorization": f"Bearer {UNKNOWN_KEY}"}
        assert_unauthorized(_call(stack, method, path, body, headers))

    @pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_revoked_users_key_is_401(
        self,
        stack: Stack,
        revoked_key: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        headers = {"Authorization": f"Bearer {revoked_key}"}
        assert_unauthorized(_call(stack, method, path, body, headers))

    def test_other_scheme_is_401(self, stack: Stack, alice: httpx.Client) -> None:
        key = alice.headers["Authorization"].removeprefix("Bearer ")
        headers = {"Authorization": f"Basic {key}"}
        assert_unauthorized(_call(stack, "GET", "/api/screener-sets", None, headers))

    def test_anonymous_invalid_body_is_401_not_422(self, anonymous: httpx.Client) -> None:
        response = anonymous.post("/api/screeners/run", json={"top_n": "lots"})
        assert_unauthorized(response)

    def test_anonymous_submission_creates_no_run(self, anonymous: httpx.Client) -> None:
        response = anonymous.post("/api/screeners/run", json=screener_request())
        assert_unauthorized(response)
        assert "run_id" not in response.json()

    @pytest.mark.parametrize("path", ["/health", "/ready"])
    def test_probe_needs_no_key(self, anonymous: httpx.Client, path: str) -> None:
        assert anonymous.get(path).status_code == 200


@pytest.fixture(scope="module")
def alices_run(alice: httpx.Client) -> dict[str, Any]:
    """A finished screener run of alice's, so it has artifacts to download."""
    run_id = submit_screener(alice, tickers=["AAPL", "MSFT"], screener_set=None, top_n=2)
    run = wait_for_run(alice, run_id)
    assert run["status"] == "completed", run
    return run


class TestRunVisibility:
    def test_owner_downloads_own_artifact(
        self, alice: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        response = alice.get(f"/api/runs/{alices_run['run_id']}/artifacts/results.json")
        assert response.status_code == 200, response.text

    def test_other_user_reading_run_is_404_not_403(
        self, bob: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        response = bob.get(f"/api/runs/{alices_run['run_id']}")
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"

    def test_other_user_cancelling_run_is_404(
        self, alice: httpx.Client, bob: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        response = bob.delete(f"/api/runs/{alices_run['run_id']}")
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"
        assert alice.get(f"/api/runs/{alices_run['run_id']}").json()["status"] == "completed"

    def test_other_user_downloading_artifact_is_404(
        self, bob: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        response = bob.get(f"/api/runs/{alices_run['run_id']}/artifacts/results.json")
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"

    def test_other_users_404_matches_missing_runs_404(
        self, bob: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        # The two answers differ only by id, so a 404 does not reveal that a run exists.
        theirs = bob.get(f"/api/runs/{alices_run['run_id']}").json()
        missing = bob.get(f"/api/runs/{MISSING_RUN}").json()
        assert theirs["error"] == missing["error"]
        assert theirs["detail"].replace(alices_run["run_id"], MISSING_RUN) == missing["detail"]

    def test_admin_reads_any_users_run(
        self, admin: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        response = admin.get(f"/api/runs/{alices_run['run_id']}")
        assert response.status_code == 200, response.text
        assert response.json()["owner"] == "alice"

    def test_admin_downloads_any_users_artifact(
        self, admin: httpx.Client, alices_run: dict[str, Any]
    ) -> None:
        response = admin.get(f"/api/runs/{alices_run['run_id']}/artifacts/results.json")
        assert response.status_code == 200, response.text


class TestRunIds:
    def test_unknown_run_is_404(self, alice: httpx.Client) -> None:
        response = alice.get(f"/api/runs/{uuid.uuid4()}")
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"

    def test_cancelling_unknown_run_is_404(self, alice: httpx.Client) -> None:
        response = alice.delete(f"/api/runs/{uuid.uuid4()}")
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "RunNotFound"

    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    def test_non_uuid_run_id_is_422(self, alice: httpx.Client, method: str) -> None:
        response = alice.request(method, "/api/runs/not-a-uuid")
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "InvalidRequest"
        assert [f["field"] for f in body["fields"]] == ["run_id"]
