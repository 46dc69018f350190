"""A flowdesk worker stopped while it starts up exits at once and leaves no process.

Its setup first starts the warm process (a forkserver importing Prefect and the flows:
seconds, tens on a loaded machine), then the warm executors, then registers with
Prefect. A SIGTERM in the first step used to wait for the imports; one in the last left
the executors running, and the worker waited for them for ever (until `flowdesk up`
killed it). Each test holds the worker in one step: the forkserver's imports slowed by a
`sitecustomize` that sleeps in it alone, or its channel to Prefect held by a proxy
in front of the stack's real Prefect server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from tests.stack import ROOT, Stack, survivors

# A worker with nothing running exits within this long of SIGTERM.
EXIT_WITHIN_S = 5.0
SLOW_IMPORTS_S = 60
SLOW_IMPORTS = f"""\
import sys, time
if "multiprocessing.forkserver" in " ".join(sys.orig_argv):
    time.sleep({SLOW_IMPORTS_S})
"""


def start_worker(env: dict[str, str], pool: str, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    argv += ["--type", "flowdesk", "--limit", "2"]
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def descendants(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def warm(children: list[psutil.Process]) -> list[psutil.Process]:
    """The forkserver and what it forked (its command line names the module)."""
    found = []
    for child in children:
        try:
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_for_warm(process: subprocess.Popen[bytes], count: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while len(warm(descendants(process))) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"never saw {count} warm processes:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop_and_time(process: subprocess.Popen[bytes], log: Path) -> tuple[float, list[str]]:
    """SIGTERM; seconds until exit, and the worker's descendants not gone within 2 s."""
    tree = descendants(process)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker still running 30 s after SIGTERM:\n{log.read_text()[-3000:]}")
    return time.monotonic() - started, survivors(tree)


@pytest.fixture
def pool(stack: Stack) -> Iterator[str]:
    """A pool name of the test's own; the pool, if the worker made it, deleted after."""
    name = f"test-stop-{uuid.uuid4().hex[:8]}"
    yield name

    async def delete() -> None:
        async with PrefectClient(stack.prefect_api_url) as client:
            with contextlib.suppress(ObjectNotFound):  # stopped before it made one
                await client.delete_work_pool(name)

    asyncio.run(delete())


@pytest.fixture
def stopped_later() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Workers the test started; killed with their descendants if the test failed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        for child in descendants(process):
            child.kill()
        if process.poll() is None:
            process.kill()
            process.wait()


class HeldChannel:
    """A TCP proxy to Prefect's API that forwards everything but the request opening a
    worker's channel (a websocket its setup waits for): that connection is held."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                if requests and b"/workers/connect " in data:
                    self._closed.wait()  # held until the test ends
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()


@pytest.mark.stack
def test_stopped_while_importing_it_exits_at_once_with_its_forkserver(
    stack: Stack, pool: str, tmp_path: Path, stopped_later: list[subprocess.Popen[bytes]]
) -> None:
    (tmp_path / "sitecustomize.py").write_text(SLOW_IMPORTS)
    path = os.pathsep.join(filter(None, [str(tmp_path), stack.env.get("PYTHONPATH")]))
    log = tmp_path / "worker.log"
    worker = start_worker({**stack.env, "PYTHONPATH": path}, pool, log)
    stopped_later.append(worker)
    wait_for_warm(worker, 1, log)  # the forkserver, sleeping in its imports

    took, left = stop_and_time(worker, log)

    assert took < EXIT_WITHIN_S, log.read_text()[-3000:]
    assert worker.returncode == 0, log.read_text()[-3000:]
    assert left == []
    assert "warm process ready" not in log.read_text()


@pytest.mark.stack
def test_stopped_while_registering_it_exits_at_once_with_its_executors(
    stack: Stack, pool: str, tmp_path: Path, stopped_later: list[subprocess.Popen[bytes]]
) -> None:
    prefect_port = int(stack.prefect_api_url.rsplit(":", 1)[1].split("/")[0])
    proxy = HeldChannel(prefect_port)
    try:
        log = tmp_path / "worker.log"
        env = {**stack.env, "PREFECT_API_URL": f"http://127.0.0.1:{proxy.port}/api"}
        worker = start_worker(env, pool, log)
        stopped_later.append(worker)
        wait_for_warm(worker, 3, log)  # the forkserver and both executors
        time.sleep(1)  # the channel asked for, and held

        took, left = stop_and_time(worker, log)
    finally:
        proxy.close()

    assert "warm process ready" in log.read_text()
    assert took < EXIT_WITHIN_S, log.read_text()[-3000:]
    assert left == []
