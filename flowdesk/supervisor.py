"""Start the stack's processes, relay their output, and stop every one of them for sure.

``flowdesk up`` runs a Prefect server, a worker and the API as children. Stopping
them is the hard part: a process worker forwards the first SIGTERM as SIGINT and keeps
polling until a second one (shared/DESIGN.md), and its flow runs may live in sessions of
their own, out of reach of a process-group signal. So a service is stopped in three steps:
SIGTERM to its process group; 1 s later SIGTERM again, to the group and to every
descendant; SIGKILL to all that is left once its ``stop_timeout`` has passed.

A ``graceful`` service (flowdesk's own worker) is stopped differently: SIGTERM to its
leader alone, which then drains its flow runs and hands back the rest within
``stop_timeout``; a group-wide signal would kill the flow-run processes it is waiting for.
Whatever is left at the deadline is killed as above.

Descendants are found two ways, in one pass over the process table: by parent links from
the service's leader, and by a marker variable (``FLOWDESK_SUPERVISOR_TAG``) that every
descendant inherits in its environment, which still finds processes whose parent died and
left them to init. ``psutil.Process`` handles carry the create time, so a reused pid is
never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TextIO

import httpx
import psutil

MARKER_VAR = "FLOWDESK_SUPERVISOR_TAG"
_TAIL_LINES = 200
# A bad command or argv fails within ~0.1 s (interpreter start); a service without a
# ready_url counts as started once it has lived this long. Later deaths show in wait().
_NO_URL_GRACE_S = 0.5
# wait() is woken at once by a signal; a child's exit is noticed within 0.2 s.
_POLL_S = 0.2
# A Prefect process worker ignores the first SIGTERM; 1 s lets it start shutting down first.
_SECOND_TERM_AFTER_S = 1.0
# SIGKILL cannot be ignored: 2 s covers reaping on a loaded 2-core machine.
_KILL_WAIT_S = 2.0
_NAME_WIDTH = 14


class StartupError(RuntimeError):
    """A service died, or did not become ready in time, while it was being started."""


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service of the stack and how to tell that it is ready."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    cwd: Path | None = None
    ready_url: str | None = None
    ready_timeout: float = 60.0
    stop_timeout: float = 10.0
    # Stopped by SIGTERM to its leader alone, which then has stop_timeout to finish its
    # own children (a draining worker); a second Ctrl-C repeats the SIGTERM to it.
    graceful: bool = False


@dataclass
class _Service:
    """A started service: its leader process, marker tag and output tail."""

    spec: ServiceSpec
    popen: subprocess.Popen[bytes]
    leader: psutil.Process
    tag: str
    reader: threading.Thread | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))


class Supervisor:
    """Children started in order, stopped in reverse order, none left running."""

    def __init__(self, log_dir: Path | None = None, stream: TextIO | None = None) -> None:
        self._log_dir = log_dir
        self._stream = stream if stream is not None else sys.stdout
        self._stream_ok = True
        self._lock = threading.Lock()
        self._id = uuid.uuid4().hex
        self._services: list[_Service] = []
        self._cleanups: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._force = threading.Event()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    @property
    def stop_requested(self) -> bool:
        """True once a signal arrived or stop_all() began."""
        return self._stop.is_set()

    def add_cleanup(self, fn: Callable[[], None]) -> None:
        """Run fn in stop_all(), after the children are stopped (last added runs first)."""
        self._cleanups.append(fn)

    def install_signal_handlers(self) -> None:
        """Make SIGINT, SIGTERM and SIGHUP request a stop; a second one forces SIGKILL."""
        # SIGHUP too: children live in their own sessions, so a closed terminal reaches
        # only us, and dying of it would orphan them all.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def start(self, spec: ServiceSpec) -> None:
        """Start spec's process and return once it is ready; raise StartupError if not."""
        tag = f"{self._id}:{spec.name}"
        log: IO[str] | None = None
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            log = (self._log_dir / f"{spec.name}.log").open("a", buffering=1, encoding="utf-8")
        try:
            popen = subprocess.Popen(
                spec.argv,
                env={**spec.env, MARKER_VAR: tag},
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Own process group: Ctrl-C reaches only us and we decide the order.
                start_new_session=True,
            )
        except OSError as exc:
            if log is not None:
                log.close()
            raise StartupError(f"{spec.name}: cannot run {spec.argv[0]!r}: {exc}") from exc
        # Not reaped yet, so the pid is still this child's even if it already exited.
        svc = _Service(spec, popen, psutil.Process(popen.pid), tag)
        assert popen.stdout is not None
        svc.reader = threading.Thread(
            target=self._relay,
            args=(svc, popen.stdout, log),
            name=f"relay-{spec.name}",
            daemon=True,
        )
        svc.reader.start()
        self._services.append(svc)
        failure = self._await_ready(svc)
        if failure is not None:
            self._services.remove(svc)
            self._stop_service(svc)
            lines = "\n".join(svc.tail) or "(no output)"
            raise StartupError(f"{spec.name} {failure}; its last output:\n{lines}")
        self._note(f"{spec.name} is ready (pid {popen.pid})")

    def wait(self) -> int:
        """Block until a signal (return 0) or until a child exits on its own (return 1)."""
        while not self._stop.wait(_POLL_S):
            for svc in self._services:
                code = svc.popen.poll()
                if code is not None:
                    self._note(f"{svc.spec.name} exited unexpectedly with code {code}")
                    return 1
        return 0

    def stop_all(self) -> None:
        """Stop every service in reverse start order, then run the cleanups; idempotent."""
        self._stop.set()
        if self._services:
            self._note("stopping all services; a second Ctrl-C kills them at once")
        errors: list[Exception] = []
        # One failure must not leave the other services running: collect, raise at the end.
        while self._services:
            svc = self._services.pop()
            try:
                self._stop_service(svc)
            except Exception as exc:
                self._note(f"stopping {svc.spec.name} failed: {exc!r}")
                errors.append(exc)
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as exc:
                self._note(f"cleanup {fn!r} failed: {exc!r}")
                errors.append(exc)
        if errors:
            raise errors[0]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only set events here: the handler runs in the main thread between bytecodes,
        # possibly while that thread holds the stream lock.
        if self._stop.is_set():
            self._force.set()
        self._stop.set()

    def _await_ready(self, svc: _Service) -> str | None:
        """Wait until svc is ready; return why it is not, or None."""
        spec = svc.spec
        started = time.monotonic()
        limit = spec.ready_timeout if spec.ready_url is not None else _NO_URL_GRACE_S
        # trust_env=False: the ready URL is local, and an HTTP(S)_PROXY must not catch it.
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                if self._stop.is_set():
                    return "was stopped before it became ready"
                code = svc.popen.poll()
                if code is not None:
                    return f"exited with code {code} before it became ready"
                if spec.ready_url is not None and _answers(client, spec.ready_url):
                    return None
                remaining = started + limit - time.monotonic()
                if remaining <= 0:
                    if spec.ready_url is None:
                        return None
                    return f"did not answer 2xx at {spec.ready_url} within {limit:g} s"
                self._stop.wait(min(0.25, remaining))

    def _stop_service(self, svc: _Service) -> None:
        """TERM, TERM again after 1 s, KILL after stop_timeout; reap; nothing left alive."""
        spec, began = svc.spec, time.monotonic()
        self._note(f"stopping {spec.name} (SIGKILL after {spec.stop_timeout:g} s)")
        family = self._family(svc)
        if spec.graceful:
            done = self._stop_gracefully(svc, family, began + spec.stop_timeout)
            if not done:
                self._kill(svc, family)
            self._finish_stop(svc, family, began)
            return
        self._terminate(svc, family, signal.SIGTERM)
        deadline = began + min(_SECOND_TERM_AFTER_S, spec.stop_timeout)
        done = self._settle(svc, family, deadline)
        if not done and not self._force.is_set():
            family.update(self._family(svc, family))
            self._terminate(svc, family, signal.SIGTERM, everyone=True)
            done = self._settle(svc, family, began + spec.stop_timeout)
        if not done:
            self._kill(svc, family)
        self._finish_stop(svc, family, began)

    def _stop_gracefully(self, svc: _Service, family: set[psutil.Process], deadline: float) -> bool:
        """SIGTERM the leader alone and wait; on a second Ctrl-C, SIGTERM it once more."""
        self._signal_each([svc.leader], signal.SIGTERM)
        if self._settle(svc, family, deadline):
            return True
        if not self._force.is_set():
            return False
        self._note(f"{svc.spec.name}: stop now (second signal)")
        self._signal_each([svc.leader], signal.SIGTERM)
        return self._settle(svc, family, min(deadline, time.monotonic() + 10), force_aware=False)

    def _finish_stop(self, svc: _Service, family: set[psutil.Process], began: float) -> None:
        """Reap the leader and whatever it left to init; report survivors."""
        spec = svc.spec
        try:
            svc.popen.wait(timeout=_KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            self._note(f"{spec.name}: pid {svc.popen.pid} survived SIGKILL")
        _reap_adopted(family)
        for p in family:
            if _alive(p):
                self._note(f"{spec.name}: pid {p.pid} survived SIGKILL")
        if svc.reader is not None:
            # Its pipe closes once every holder is dead; a survivor must not hang us.
            svc.reader.join(timeout=1.0)
        self._note(f"{spec.name} stopped in {time.monotonic() - began:.1f} s")

    def _kill(self, svc: _Service, family: set[psutil.Process]) -> None:
        """SIGKILL svc's group and family, sweeping again for processes forked meanwhile."""
        for _ in range(3):
            family.update(self._family(svc, family))
            left = [p.pid for p in family if _alive(p)]
            if not left and svc.popen.poll() is not None:
                return
            self._note(f"{svc.spec.name}: SIGKILL to its group and to pids {left}")
            self._terminate(svc, family, signal.SIGKILL, everyone=True)
            self._settle(svc, family, time.monotonic() + _KILL_WAIT_S, force_aware=False)

    def _terminate(
        self,
        svc: _Service,
        family: set[psutil.Process],
        sig: signal.Signals,
        everyone: bool = False,
    ) -> None:
        """Send sig to svc's process group, and to each family member if everyone."""
        # Only while the leader is unreaped: until then its pid, the group id, is not reused.
        if svc.popen.returncode is None:
            try:
                os.killpg(svc.popen.pid, sig)
            except ProcessLookupError:
                pass  # the whole group is already gone
        else:
            # The leader died earlier (seen by wait()): reach its group's members one by one.
            everyone = True
        if everyone:
            self._signal_each(family, sig)

    def _settle(
        self, svc: _Service, family: set[psutil.Process], deadline: float, force_aware: bool = True
    ) -> bool:
        """Wait until the leader and family are gone; False at the deadline or on force."""
        while True:
            if svc.popen.poll() is not None and not any(_alive(p) for p in family):
                return True
            if time.monotonic() >= deadline or (force_aware and self._force.is_set()):
                return False
            if force_aware:
                self._force.wait(0.05)
            else:
                time.sleep(0.05)

    def _family(self, svc: _Service, known: Iterable[psutil.Process] = ()) -> set[psutil.Process]:
        """svc's live descendants: by parent links from its leader and known, and by marker."""
        found: set[psutil.Process] = set()
        by_parent: dict[int, list[psutil.Process]] = {}
        for p in psutil.process_iter(["ppid", "environ"]):
            by_parent.setdefault(p.info["ppid"], []).append(p)
            env = p.info["environ"]
            if env is not None and env.get(MARKER_VAR) == svc.tag:
                found.add(p)
        # is_running() compares create times: a dead root's reused pid is not expanded.
        pending = [r.pid for r in (svc.leader, *known) if r.is_running()]
        seen: set[int] = set()
        while pending:
            pid = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for child in by_parent.get(pid, []):
                found.add(child)
                pending.append(child.pid)
        found.discard(svc.leader)
        return found

    def _signal_each(self, procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
        for p in procs:
            try:
                p.send_signal(sig)  # psutil refuses to signal a reused pid
            except psutil.NoSuchProcess:
                pass  # already gone
            except psutil.AccessDenied:
                self._note(f"not allowed to send {sig.name} to pid {p.pid}")

    def _relay(self, svc: _Service, pipe: IO[bytes], log: IO[str] | None) -> None:
        """Copy svc's output, line by line, to the stream (prefixed), its log and its tail."""
        prefix = f"{svc.spec.name:<{_NAME_WIDTH}} | "
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode(errors="replace").rstrip("\r\n")
                svc.tail.append(line)
                self._emit(prefix + line)
                if log is not None:
                    log.write(line + "\n")
        finally:
            pipe.close()
            if log is not None:
                log.close()

    def _note(self, message: str) -> None:
        self._emit(f"{'flowdesk':<{_NAME_WIDTH}} | {message}")

    def _emit(self, line: str) -> None:
        with self._lock:
            if not self._stream_ok:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                # A closed stdout (`flowdesk up | head`) must not stop the relay threads:
                # an undrained pipe would block the children on their next write.
                self._stream_ok = False


def _answers(client: httpx.Client, url: str) -> bool:
    """True if a GET of url answers 2xx."""
    try:
        return client.get(url).is_success
    except httpx.HTTPError:
        return False  # not listening yet


def _alive(p: psutil.Process) -> bool:
    """True if p is running and not a zombie (a zombie has already stopped)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _reap_adopted(procs: Iterable[psutil.Process]) -> None:
    """Reap family members re-parented to us (we are PID 1 in a container)."""
    me = os.getpid()
    for p in procs:
        try:
            if p.is_running() and p.ppid() == me:
                os.waitpid(p.pid, os.WNOHANG)
        except (psutil.NoSuchProcess, ChildProcessError):
            pass  # already reaped
