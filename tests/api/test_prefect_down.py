"""An API whose Prefect is unreachable: submissions are 503 and leave no row; reads work."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from tests.factories import screener_request, submit_screener, wait_for_run
from tests.services import free_port
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.stack

# The gateway gives up after FLOWDESK_PREFECT_TIMEOUT_SECONDS (10 s by default); a refused
# connection fails at once, so 15 s leaves room for a loaded machine.
ANSWER_WITHIN_S = 15.0
START_TIMEOUT_S = 90.0


def snapshot_dsn(stack: Stack) -> str:
    return stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def count_runs_of(stack: Stack, user_name: str) -> int:
    with psycopg.connect(snapshot_dsn(stack)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM runs JOIN users ON users.id = runs.owner_id "
            "WHERE users.name = %s",
            (user_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def dead_prefect_url() -> str:
    return f"http://127.0.0.1:{free_port()}/api"


@pytest.fixture(scope="module")
def offline_api(
    stack: Stack, dead_prefect_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second API on the stack's database whose PREFECT_API_URL answers nothing."""
    port = free_port()
    env = {**stack.env, "PREFECT_API_URL": dead_prefect_url, "FLOWDESK_API_PORT": str(port)}
    log_path = tmp_path_factory.mktemp("offline-api") / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowdesk.cli", "api", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")
                raise RuntimeError(f"the API exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not answer /health in {START_TIMEOUT_S:g} s")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def carol(stack: Stack) -> tuple[str, str]:
    """A fresh user, so that her runs can be counted exactly: (name, API key)."""
    name = f"carol-{uuid.uuid4().hex[:8]}"
    return name, stack.create_user(name)


@pytest.fixture
def carol_offline(offline_api: str, carol: tuple[str, str]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {carol[1]}"}
    with httpx.Client(base_url=offline_api, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def carol_online(stack: Stack, carol: tuple[str, str]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {carol[1]}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as client:
        yield client


class TestSubmitWhilePrefectIsDown:
    def test_submit_is_503_naming_prefect_and_leaves_no_row(
        self,
        stack: Stack,
        carol: tuple[str, str],
        carol_offline: httpx.Client,
        dead_prefect_url: str,
    ) -> None:
        before = count_runs_of(stack, carol[0])
        started = time.monotonic()

        response = carol_offline.post("/api/screeners/run", json=screener_request())

        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "ServiceUnavailable"
        assert "Prefect" in body["detail"]
        assert dead_prefect_url in body["detail"]
        assert elapsed < ANSWER_WITHIN_S, f"answered after {elapsed:.1f} s"
        assert count_runs_of(stack, carol[0]) == before

    def test_submit_with_idempotency_key_can_be_retried_once_prefect_is_back(
        self, stack: Stack, carol_offline: httpx.Client, carol_online: httpx.Client
    ) -> None:
        headers = {"Idempotency-Key": f"retry-{uuid.uuid4().hex[:8]}"}
        down = carol_offline.post("/api/screeners/run", json=screener_request(), headers=headers)
        assert down.status_code == 503, down.text

        # The failed attempt left no row holding the key: the retry makes a new run.
        up = carol_online.post("/api/screeners/run", json=screener_request(), headers=headers)

        assert up.status_code == 202, up.text
        assert wait_for_run(carol_online, up.json()["run_id"])["status"] == "completed"


class TestReadinessWhilePrefectIsDown:
    def test_ready_is_503_naming_prefect(self, offline_api: str, dead_prefect_url: str) -> None:
        response = httpx.get(f"{offline_api}/ready", timeout=30)

        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "ServiceUnavailable"
        assert "prefect" in body["detail"]
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["prefect"] != "ok"
        assert dead_prefect_url in body["checks"]["prefect"]

    def test_health_is_200(self, offline_api: str) -> None:
        assert httpx.get(f"{offline_api}/health", timeout=10).status_code == 200


class TestReadWhilePrefectIsDown:
    def test_completed_run_reads_as_before(
        self, carol_online: httpx.Client, carol_offline: httpx.Client
    ) -> None:
        run_id = wait_for_run(carol_online, submit_screener(carol_online))["run_id"]
        # Read again once finished: the read that saw it finish may have raced the hook.
        run = carol_online.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "completed", run

        response = carol_offline.get(f"/api/runs/{run_id}")

        assert response.status_code == 200, response.text
        body = response.json()
        # Only the Prefect UI link differs: it is derived from each API's PREFECT_API_URL.
        assert {**body, "prefect": None} == {**run, "prefect": None}
        assert body["prefect"]["flow_run_id"] == run["prefect"]["flow_run_id"]
        artifact = carol_offline.get(f"/api/runs/{run_id}/artifacts/results.json")
        assert artifact.status_code == 200

    def test_open_run_reads_with_its_last_known_status(
        self, stack: Stack, carol: tuple[str, str], carol_offline: httpx.Client
    ) -> None:
        # A running row cannot be reconciled while Prefect is down; reading must still work.
        run_id, now = uuid.uuid4(), datetime.now(UTC)
        with psycopg.connect(snapshot_dsn(stack)) as conn:
            conn.execute(
                "INSERT INTO runs (id, owner_id, job_type, status, priority, snapshot, "
                "artifacts, prefect_flow_run_id, created_at, started_at, updated_at) "
                "SELECT %s, id, 'screener', 'running', 'default', '{}', '[]', %s, %s, %s, %s "
                "FROM users WHERE name = %s",
                (run_id, uuid.uuid4(), now, now, now, carol[0]),
            )
        try:
            started = time.monotonic()
            response = carol_offline.get(f"/api/runs/{run_id}")

            assert response.status_code == 200, response.text
            assert response.json()["status"] == "running"
            assert time.monotonic() - started < ANSWER_WITHIN_S
        finally:
            with psycopg.connect(snapshot_dsn(stack)) as conn:
                conn.execute("DELETE FROM runs WHERE id = %s", (run_id,))
