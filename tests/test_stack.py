"""`flowdesk up` as a user runs it, and `flowdesk db upgrade` on both backends.

These start their own stacks (slow: a fresh SQLite Prefect server migrates for about
25 s), so each test does as much as it can with the one stack it starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from prefect.client.orchestration import PrefectClient

from flowdesk.db.engine import sync_url
from flowdesk.db.migrate import alembic_config
from flowdesk.db.models import JobType, Run, RunStatus, User
from tests import services
from tests.factories import submit_screener, wait_for_run
from tests.stack import ROOT, Stack, alive, cmdline, survivors, wait_until_ready

# A fresh SQLite Prefect server migrates for ~25 s, then deploy, worker and API follow;
# a loaded 2-core machine has needed three times that.
EMBEDDED_READY_S = 240.0
EXTERNAL_READY_S = 120.0
STOP_WITHIN_S = 30.0


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without flowdesk or Prefect API settings, state in tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FLOWDESK_") and not k.startswith("PREFECT_API_")
    }
    env.update(
        {
            "FLOWDESK_STATE_DIR": str(tmp_path / "state"),
            "FLOWDESK_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "FLOWDESK_API_PORT": str(services.free_port()),
            "FLOWDESK_PREFECT_PORT": str(services.free_port()),
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            # As in the session stack: no hourly quick scan landing mid-test (a run then
            # drains for up to 30 s on stop), and a second `flowdesk up` on the session's
            # Prefect leaves that server's timetable paused.
            "FLOWDESK_TIMETABLE_ENABLED": "false",
            **extra,
        }
    )
    return env


def flowdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowdesk.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Up:
    """A `flowdesk up` started by a test, in its own session, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.api_url = f"http://127.0.0.1:{env['FLOWDESK_API_PORT']}"
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flowdesk.cli", "up"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: list[psutil.Process] = []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        wait_until_ready(self.process, self.api_url, lambda: self.log()[-4000:], timeout)

    def tree(self) -> list[psutil.Process]:
        """`flowdesk up` and every descendant now; remembered for the clean-up."""
        root = psutil.Process(self.process.pid)
        found = [root, *root.children(recursive=True)]
        self.seen.extend(found)
        return found

    def stop(self, sig: signal.Signals) -> float:
        """Send sig to `flowdesk up` alone; how long it took to exit."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`flowdesk up` still running {STOP_WITHIN_S:g} s after {sig.name}:\n"
                f"{self.log()[-6000:]}"
            )
        return time.monotonic() - started

    def kill_leftovers(self) -> None:
        """SIGKILL whatever a failed test left running (only processes this test started)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for process in self.seen:
            if alive(process):
                process.kill()


@pytest.fixture
def started() -> Iterator[list[Up]]:
    """The `flowdesk up` processes a test starts; anything left is killed at the end."""
    ups: list[Up] = []
    try:
        yield ups
    finally:
        for up in ups:
            up.kill_leftovers()


class TestEmbeddedDefaults:
    @pytest.mark.timeout(EMBEDDED_READY_S + 240)
    def test_up_runs_a_screener_on_sqlite_and_sigterm_stops_the_whole_tree(
        self, tmp_path: Path, started: list[Up]
    ) -> None:
        env = user_env(tmp_path)
        up = Up(env, tmp_path / "up.log")
        started.append(up)

        up.wait_ready(EMBEDDED_READY_S)

        snapshots = tmp_path / "state" / "flowdesk.db"
        assert snapshots.read_bytes()[:16] == b"SQLite format 3\x00"
        assert (tmp_path / "prefect-home" / "prefect.db").is_file(), "Prefect's own SQLite"
        created = flowdesk(env, "users", "create", "x")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip().splitlines()[-1]
        with httpx.Client(
            base_url=up.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            run = wait_for_run(client, submit_screener(client), timeout=180)
        assert run["status"] == "completed", run
        assert (tmp_path / "artifacts").is_dir()
        tree = up.tree()
        assert any("server start" in cmdline(p) for p in tree), "an embedded Prefect server"
        assert any("worker start" in cmdline(p) for p in tree), "a Prefect worker"

        took = up.stop(signal.SIGTERM)

        assert up.process.returncode == 0, up.log()[-4000:]
        assert took < STOP_WITHIN_S
        assert survivors(tree) == []


async def _delete_work_pool(api_url: str, name: str) -> None:
    async with PrefectClient(api_url) as client:
        await client.delete_work_pool(name)


@pytest.fixture
def own_work_pool(stack: Stack) -> Iterator[str]:
    """A pool name for a second stack on the session's Prefect, deleted afterwards.

    A second worker on `flowdesk` would take the session's runs and execute them against
    another snapshot store; a pool left behind, workerless, would make the system_status
    report of later tests say `degraded`.
    """
    name = f"flowdesk-ext-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(_delete_work_pool(stack.prefect_api_url, name))


class TestExternalPrefect:
    @pytest.mark.stack
    def test_up_uses_the_given_prefect_and_sigint_stops_the_whole_tree(
        self, stack: Stack, tmp_path: Path, started: list[Up], own_work_pool: str
    ) -> None:
        pool = own_work_pool
        env = user_env(tmp_path, PREFECT_API_URL=stack.prefect_api_url, FLOWDESK_WORK_POOL=pool)
        up = Up(env, tmp_path / "up.log")
        started.append(up)

        up.wait_ready(EXTERNAL_READY_S)

        assert (tmp_path / "state" / "flowdesk.db").is_file()
        assert f"using the Prefect API at {stack.prefect_api_url}" in up.log()
        tree = up.tree()
        assert not any("server start" in cmdline(p) for p in tree), [cmdline(p) for p in tree]
        assert any("worker start" in cmdline(p) for p in tree)
        ready = httpx.get(f"{up.api_url}/ready", timeout=10).json()
        assert ready["checks"]["prefect"] == "ok"

        took = up.stop(signal.SIGINT)

        assert up.process.returncode == 0, up.log()[-4000:]
        assert took < STOP_WITHIN_S
        assert survivors(tree) == []
        # The session's Prefect server is not part of this tree and still answers.
        assert httpx.get(f"{stack.prefect_api_url}/health", timeout=10).status_code == 200

    def test_up_with_an_unreachable_prefect_api_url_exits_nonzero_naming_it(
        self, tmp_path: Path
    ) -> None:
        dead = f"http://127.0.0.1:{services.free_port()}/api"
        env = user_env(tmp_path, PREFECT_API_URL=dead)
        started = time.monotonic()

        result = subprocess.run(
            [sys.executable, "-m", "flowdesk.cli", "up"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )

        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert time.monotonic() - started < 60
        assert "PREFECT_API_URL" in output
        assert dead in output


class TestSplitPrefect:
    def test_up_with_a_prefect_redis_url_but_sqlite_exits_nonzero_naming_the_fix(
        self, tmp_path: Path
    ) -> None:
        env = user_env(tmp_path, FLOWDESK_PREFECT_REDIS_URL=services.REDIS_TEST_URL)
        started = time.monotonic()

        result = flowdesk(env, "up")

        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert time.monotonic() - started < 60
        assert "PREFECT_API_DATABASE_CONNECTION_URL" in output
        assert "FLOWDESK_PREFECT_REDIS_URL" in output


class TestDbUpgrade:
    def test_fresh_database_reaches_head_with_tables_and_constraints(
        self, fresh_database_url: str, tmp_path: Path
    ) -> None:
        env = user_env(tmp_path, FLOWDESK_DATABASE_URL=fresh_database_url)
        head = ScriptDirectory.from_config(alembic_config(fresh_database_url)).get_current_head()

        result = flowdesk(env, "db", "upgrade")

        assert result.returncode == 0, result.stdout + result.stderr
        assert f"database at revision {head}" in result.stdout
        engine = sa.create_engine(sync_url(fresh_database_url))
        try:
            with engine.connect() as conn:
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert version.scalar_one() == head
            inspector = sa.inspect(engine)
            assert {"runs", "users", "api_keys"} <= set(inspector.get_table_names())
            unique = {c["name"] for c in inspector.get_unique_constraints("runs")}
            assert {"uq_runs_owner_idempotency_key", "uq_runs_schedule_tick"} <= unique
            if engine.dialect.name == "postgresql":
                with engine.connect() as conn:
                    snapshot_type = conn.execute(
                        sa.text(
                            "SELECT data_type FROM information_schema.columns "
                            "WHERE table_name = 'runs' AND column_name = 'snapshot'"
                        )
                    ).scalar_one()
                assert snapshot_type == "jsonb"
        finally:
            engine.dispose()

    def test_second_run_of_the_same_schedule_tick_is_a_unique_violation(
        self, fresh_database_url: str, tmp_path: Path
    ) -> None:
        env = user_env(tmp_path, FLOWDESK_DATABASE_URL=fresh_database_url)
        assert flowdesk(env, "db", "upgrade").returncode == 0
        engine = sa.create_engine(sync_url(fresh_database_url))
        now = datetime.now(UTC)
        owner = uuid.uuid4()
        tick = {"schedule_id": uuid.uuid4(), "scheduled_for": now.replace(microsecond=0)}

        def a_run() -> dict[str, object]:
            return {
                "id": uuid.uuid4(),
                "owner_id": owner,
                "job_type": JobType.SCREENER,
                "status": RunStatus.PENDING,
                "priority": "default",
                "snapshot": {},
                "artifacts": [],
                "created_at": now,
                "updated_at": now,
                **tick,
            }

        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.insert(User.__table__).values(
                        id=owner, name="tick-owner", is_admin=False, created_at=now
                    )
                )
                conn.execute(sa.insert(Run.__table__).values(**a_run()))
            with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
                conn.execute(sa.insert(Run.__table__).values(**a_run()))
        finally:
            engine.dispose()

        if engine.dialect.name == "postgresql":
            assert isinstance(caught.value.orig, psycopg.errors.UniqueViolation)
            assert "uq_runs_schedule_tick" in str(caught.value.orig)
        else:
            assert "UNIQUE constraint failed: runs.schedule_id, runs.scheduled_for" in str(
                caught.value.orig
            )
