"""The real flowdesk stack for a test session: `flowdesk up` on Postgres, over real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests import services

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    api_url: str
    prefect_api_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    databases: list[str] = field(default_factory=list)
    # The Redis database its Prefect server's API and services share, when split.
    prefect_redis_url: str | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the `flowdesk` command against this stack's database."""
        return subprocess.run(
            [sys.executable, "-m", "flowdesk.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def create_user(self, name: str, *, admin: bool = False) -> str:
        """A new user's API key, from the last line of `flowdesk users create`."""
        result = self.cli("users", "create", name, *(["--admin"] if admin else []))
        return result.stdout.strip().splitlines()[-1]

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def process_tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    @contextmanager
    def worker_stopped(self) -> Iterator[None]:
        """The Prefect worker stopped (SIGSTOP) for the block, then resumed (SIGCONT).

        While stopped it neither polls nor heartbeats, exactly as if it were down: Prefect
        keeps the due flow runs Scheduled (then Late) until it comes back.
        """
        (worker,) = [
            process
            for process in self.process_tree()
            if cmdline(process).split()[2:5] == ["prefect", "worker", "start"]
        ]
        worker.suspend()
        try:
            yield
        finally:
            worker.resume()


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cmdline(process: psutil.Process) -> str:
    """A process's command line, or "" for one that exited meanwhile."""
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return ""


def survivors(tree: list[psutil.Process], grace: float = 2.0) -> list[str]:
    """Members of tree still alive after grace seconds (time for init to reap orphans)."""
    deadline = time.monotonic() + grace
    while True:
        left = [p for p in tree if alive(p)]
        if not left or time.monotonic() > deadline:
            return [f"{p.pid}: {cmdline(p)[:120]}" for p in left]
        time.sleep(0.1)


def start_stack(
    tmp: Path,
    *,
    timeout: float = 300,
    extra_env: dict[str, str] | None = None,
    split_prefect: bool = True,
) -> Stack:
    """Start `flowdesk up` with fresh Postgres databases and free ports; wait until ready.

    With split_prefect, as in production on Postgres, its Prefect server runs as its API
    and its services on a Redis database claimed for it (FLOWDESK_PREFECT_REDIS_URL)."""
    snapshots_db = services.create_database("flowdesk_test")
    prefect_db = services.create_database("flowdesk_prefect_test")
    prefect_redis_url = services.claim_redis_database() if split_prefect else None
    api_port, prefect_port = services.free_port(), services.free_port()
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    env = {
        **os.environ,
        "FLOWDESK_DATABASE_URL": services.sqlalchemy_url(snapshots_db),
        "PREFECT_API_DATABASE_CONNECTION_URL": services.sqlalchemy_url(prefect_db, "asyncpg"),
        "FLOWDESK_STATE_DIR": str(tmp / "state"),
        "FLOWDESK_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "FLOWDESK_CONFIG_DIR": str(config),
        "FLOWDESK_SCREENER_SETS_PATH": str(config / "schemas" / "screener_sets.yml"),
        "FLOWDESK_API_PORT": str(api_port),
        "FLOWDESK_PREFECT_PORT": str(prefect_port),
        # Reads reconcile at once, so tests see Prefect's state without waiting.
        "FLOWDESK_RECONCILE_AFTER_SECONDS": "0",
        "FLOWDESK_RECONCILE_INTERVAL_SECONDS": "2",
        # Small, so the quota test creates few schedules.
        "FLOWDESK_SCHEDULE_QUOTA": "20",
        # No hourly quick scan or nightly cleanup landing in the middle of a test.
        "FLOWDESK_TIMETABLE_ENABLED": "false",
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        **({"FLOWDESK_PREFECT_REDIS_URL": prefect_redis_url} if prefect_redis_url else {}),
        **(extra_env or {}),
    }
    env.pop("PREFECT_API_URL", None)
    log_path = tmp / "stack.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "flowdesk.cli", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack = Stack(
        api_url=f"http://127.0.0.1:{api_port}",
        prefect_api_url=f"http://127.0.0.1:{prefect_port}/api",
        env={**env, "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api"},
        process=process,
        log_path=log_path,
        workdir=tmp,
        databases=[snapshots_db, prefect_db],
        prefect_redis_url=prefect_redis_url,
    )
    try:
        wait_until_ready(stack.process, stack.api_url, stack.log_tail, timeout)
    except BaseException:
        stop_stack(stack)
        drop_databases(stack)
        raise
    return stack


def wait_until_ready(
    process: subprocess.Popen[bytes], api_url: str, log_tail: Callable[[], str], timeout: float
) -> None:
    """Wait for `flowdesk up`'s API to answer /ready; fail with its log if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"flowdesk up exited with {process.returncode}:\n{log_tail()}")
        try:
            if httpx.get(f"{api_url}/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"flowdesk up not ready after {timeout:g} s:\n{log_tail()}")


def stop_stack(stack: Stack, timeout: float = 60) -> int:
    """SIGTERM `flowdesk up` and wait; returns its exit code."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()
    return stack.process.returncode


def drop_databases(stack: Stack) -> None:
    for name in stack.databases:
        services.drop_database(name)
    if stack.prefect_redis_url:
        services.release_redis_database(stack.prefect_redis_url)


async def pause_queue(stack: Stack, paused: bool, queue: str = "default") -> None:
    """Pause or resume one work queue of the `flowdesk` pool: its runs wait while paused."""
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(stack.prefect_api_url) as client:
        found = await client.read_work_queue_by_name(queue, work_pool_name="flowdesk")
        await client.update_work_queue(found.id, is_paused=paused)
