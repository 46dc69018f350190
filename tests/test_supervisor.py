"""Supervisor against real processes: readiness, relayed output, stubborn trees, signals."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from flowdesk.supervisor import ServiceSpec, StartupError, Supervisor

CHILDREN = Path(__file__).parent / "supervisor_children"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
# Second SIGTERM at 1 s, SIGKILL at 1.2 s: short enough for a fast suite.
STOP_TIMEOUT = 1.2
pytestmark = pytest.mark.timeout(60)


def script(name: str, *args: str) -> list[str]:
    return [sys.executable, str(CHILDREN / name), *args]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pid_gone(pid: int) -> bool:
    try:
        return gone(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def pid_in(text: str, label: str) -> int:
    found = re.search(rf"{label} (\d+)", text)
    assert found is not None, text
    return int(found.group(1))


# Processes this test session had before a test (the session's flowdesk stack, say),
# which a test's tree must not count.
_ALREADY_RUNNING: set[int] = set()


def our_tree() -> list[psutil.Process]:
    """The processes started under this test, by this test."""
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in _ALREADY_RUNNING]


@pytest.fixture(autouse=True)
def _note_running_processes() -> None:
    _ALREADY_RUNNING.clear()
    _ALREADY_RUNNING.update(p.pid for p in psutil.Process().children(recursive=True))


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def supervisor(tmp_path: Path, stream: io.StringIO) -> Iterator[Supervisor]:
    with Supervisor(log_dir=tmp_path / "logs", stream=stream) as sup:
        yield sup


class TestStart:
    def test_http_child_becomes_ready_and_its_lines_are_prefixed(
        self, supervisor: Supervisor, stream: io.StringIO, tmp_path: Path
    ) -> None:
        port = free_port()
        spec = ServiceSpec(
            "web",
            script("http_child.py", str(port), "0.3"),
            ENV,
            ready_url=f"http://127.0.0.1:{port}/",
            ready_timeout=10,
        )
        supervisor.start(spec)
        supervisor.stop_all()
        lines = stream.getvalue().splitlines()
        assert "web            | warming up" in lines
        assert f"web            | listening on 127.0.0.1:{port}" in lines
        assert any(line.startswith("web            | request GET / ") for line in lines)
        log = (tmp_path / "logs" / "web.log").read_text()
        assert f"listening on 127.0.0.1:{port}\n" in log

    def test_child_that_exits_at_once_raises_with_its_last_output(
        self, supervisor: Supervisor
    ) -> None:
        code = "import sys; print('loading settings'); sys.exit('boom: FLOWDESK_X is not set')"
        with pytest.raises(StartupError, match="exited with code 1") as info:
            supervisor.start(ServiceSpec("api", python(code), ENV))
        assert "loading settings\nboom: FLOWDESK_X is not set" in str(info.value)

    def test_failed_start_leaves_no_grandchild(self, supervisor: Supervisor) -> None:
        argv = script("stubborn.py", "--die-after", "0", "3")
        spec = ServiceSpec("worker", argv, ENV, stop_timeout=STOP_TIMEOUT)
        with pytest.raises(StartupError, match="exited with code 3") as info:
            supervisor.start(spec)
        assert pid_gone(pid_in(str(info.value), "grandchild"))

    def test_ready_timeout_raises_and_kills_the_child(self, supervisor: Supervisor) -> None:
        code = "import os, time; print('pid', os.getpid()); time.sleep(60)"
        spec = ServiceSpec(
            "api",
            python(code),
            ENV,
            ready_url=f"http://127.0.0.1:{free_port()}/health",
            ready_timeout=1.0,
        )
        began = time.monotonic()
        with pytest.raises(StartupError, match=r"did not answer 2xx at .* within 1 s") as info:
            supervisor.start(spec)
        assert time.monotonic() - began < 3
        assert pid_gone(pid_in(str(info.value), "pid"))

    def test_missing_executable_raises_startup_error(self, supervisor: Supervisor) -> None:
        with pytest.raises(StartupError, match="cannot run"):
            supervisor.start(ServiceSpec("api", ["/nonexistent/flowdesk-api"], ENV))


class TestStopAll:
    def test_stubborn_child_and_grandchild_in_another_session_are_stopped(
        self, supervisor: Supervisor, stream: io.StringIO
    ) -> None:
        spec = ServiceSpec("worker", script("stubborn.py"), ENV, stop_timeout=STOP_TIMEOUT)
        supervisor.start(spec)
        tree = our_tree()
        assert len(tree) == 2, tree  # the child and its grandchild
        assert len({os.getsid(p.pid) for p in tree}) == 2  # in two different sessions
        began = time.monotonic()
        supervisor.stop_all()
        elapsed = time.monotonic() - began
        assert [p for p in tree if not gone(p)] == []
        assert elapsed < STOP_TIMEOUT + 2
        # The second SIGTERM stopped the child; the grandchild needed SIGKILL.
        assert "worker         | SIGTERM number 2" in stream.getvalue()
        assert "worker: SIGKILL to its group and to pids" in stream.getvalue()

    def test_graceful_service_is_signalled_alone_and_its_child_finishes_its_work(
        self, supervisor: Supervisor, stream: io.StringIO
    ) -> None:
        spec = ServiceSpec("worker", script("draining.py"), ENV, stop_timeout=10, graceful=True)
        supervisor.start(spec)
        began = time.monotonic()
        supervisor.stop_all()
        assert time.monotonic() - began < 8
        output = stream.getvalue()
        assert "grandchild finished its work" in output
        assert output.index("grandchild finished its work") < output.index("drained")
        assert "SIGKILL to its group" not in output
        assert pid_gone(pid_in(output, "grandchild"))

    def test_stop_all_is_idempotent_and_runs_cleanups_after_children(
        self, supervisor: Supervisor
    ) -> None:
        supervisor.start(ServiceSpec("api", python("import time; time.sleep(60)"), ENV))
        tree = our_tree()
        seen: list[bool] = []
        supervisor.add_cleanup(lambda: seen.append(all(gone(p) for p in tree)))
        supervisor.stop_all()
        supervisor.stop_all()
        assert seen == [True]


class TestWait:
    def test_child_exiting_on_its_own_returns_1_and_its_orphan_is_stopped(
        self, supervisor: Supervisor, stream: io.StringIO
    ) -> None:
        spec = ServiceSpec(
            "worker",
            script("stubborn.py", "--die-after", "1.2", "4"),
            ENV,
            stop_timeout=STOP_TIMEOUT,
        )
        supervisor.start(spec)
        (grandchild,) = [p for p in our_tree() if p.pid == pid_in(stream.getvalue(), "grandchild")]
        assert supervisor.wait() == 1
        assert "exited unexpectedly with code 4" in stream.getvalue()
        assert not gone(grandchild)  # orphaned: only the marker still ties it to us
        supervisor.stop_all()
        assert gone(grandchild)


@dataclass
class Stack:
    """A stack.py process: a Supervisor over a web child and a stubborn child."""

    proc: subprocess.Popen[bytes]
    handle: psutil.Process
    out: Path

    def text(self) -> str:
        return self.out.read_text()

    def tree(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)


def launch_stack(out: Path, port: int, stop_timeout: float) -> Stack:
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            script("stack.py", str(port), str(stop_timeout)),
            env=ENV,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Stack(proc, psutil.Process(proc.pid), out)


def await_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 20
    while "READY" not in stack.text():
        assert stack.proc.poll() is None, stack.text()
        assert time.monotonic() < deadline, stack.text()
        time.sleep(0.05)


@pytest.fixture(scope="class")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    """One stack per test below, all started at once: start-up is the slow part (~1-2 s)."""
    tmp = tmp_path_factory.mktemp("stacks")
    timeouts = {"SIGTERM": STOP_TIMEOUT, "SIGINT": STOP_TIMEOUT, "twice": 30.0}
    with contextlib.ExitStack() as ports:
        socks = [ports.enter_context(socket.socket()) for _ in timeouts]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        free = [int(sock.getsockname()[1]) for sock in socks]
    running = {
        name: launch_stack(tmp / f"{name}.out", port, timeout)
        for (name, timeout), port in zip(timeouts.items(), free, strict=True)
    }
    trees = {name: stack.tree() for name, stack in running.items()}
    try:
        for stack in running.values():
            await_ready(stack)
        trees = {name: stack.tree() for name, stack in running.items()}
        yield running
    finally:
        # A failed test must not leave its stack behind.
        for name, stack in running.items():
            for p in [*trees[name], stack.handle]:
                if not gone(p):
                    p.kill()
            stack.proc.wait()


class TestSignals:
    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
    def test_signal_stops_the_whole_tree_and_exits_0(
        self, stacks: dict[str, Stack], sig: signal.Signals
    ) -> None:
        stack = stacks[sig.name]
        tree = stack.tree()
        assert len(tree) == 3, tree  # web, stubborn, stubborn's grandchild
        began = time.monotonic()
        stack.proc.send_signal(sig)
        assert stack.proc.wait(timeout=STOP_TIMEOUT + 5) == 0, stack.text()
        elapsed = time.monotonic() - began
        assert [p for p in tree if not gone(p)] == []
        assert elapsed < STOP_TIMEOUT + 2.5, stack.text()

    def test_second_signal_skips_the_grace_period(self, stacks: dict[str, Stack]) -> None:
        stack = stacks["twice"]
        tree = stack.tree()
        began = time.monotonic()
        stack.proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        stack.proc.send_signal(signal.SIGINT)
        assert stack.proc.wait(timeout=10) == 0, stack.text()
        assert time.monotonic() - began < 3, stack.text()  # not the 30 s grace period
        assert [p for p in tree if not gone(p)] == []
