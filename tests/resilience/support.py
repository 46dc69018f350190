"""Test support: a real loopback HTTP server that misbehaves on purpose, and guard builders."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import httpx

from flowdesk.resilience import (
    BreakerStore,
    CircuitBreaker,
    MemoryBreakerStore,
    OutboundGuard,
    RedisBreakerStore,
    RetryPolicy,
)

T = TypeVar("T")


class MisbehavingServer:
    """Answers `status` to the first `failures` requests (every request when None), then 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self._failures: int | None = 0
        self._failed = 0
        self._status = 500
        self._headers: dict[str, str] = {}
        self._delay = 0.0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/resource"
        # shutdown() waits up to one poll interval: 0.01 s rather than the default 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def misbehave(
        self,
        failures: int | None,
        *,
        status: int = 500,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """From now on: fail `failures` requests (None: never recover), each after `delay` s."""
        with self._lock:
            self._failures, self._failed = failures, 0
            self._status, self._headers, self._delay = status, headers or {}, delay

    def recover(self, *, delay: float = 0.0) -> None:
        """Answer 200 from now on."""
        self.misbehave(0, delay=delay)

    def respond(self) -> tuple[int, dict[str, str], float]:
        """Count one request and decide its answer."""
        with self._lock:
            self.requests += 1
            if self._failures is None or self._failed < self._failures:
                self._failed += 1
                return self._status, self._headers, self._delay
            return 200, {}, self._delay

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(server: MisbehavingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, delay = server.respond()
            time.sleep(delay)
            body = b"ok" if status == 200 else b"misbehaving on purpose"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request on stderr would drown the test output

    return Handler


class Stores:
    """Makes breaker stores of one kind; `new()` twice is two workers sharing state."""

    def __init__(self, kind: str, dsn: str | None, prefix: str | None) -> None:
        self.kind = kind
        self._dsn, self._prefix = dsn, prefix
        self._memory = MemoryBreakerStore()
        self._redis: list[RedisBreakerStore] = []

    def new(self) -> BreakerStore:
        if self._dsn is None or self._prefix is None:
            return self._memory  # one process: every "worker" shares the process's store
        store = RedisBreakerStore(self._dsn, prefix=self._prefix)
        self._redis.append(store)
        return store

    def run(self, scenario: Callable[[], Awaitable[T]]) -> T:
        """Run `scenario` on a fresh event loop, closing Redis connections when it ends."""

        async def main() -> T:
            try:
                return await scenario()
            finally:
                for store in self._redis:
                    await store.aclose()

        return asyncio.run(main())


FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def make_guard(
    dependency: str,
    store: BreakerStore,
    *,
    policy: RetryPolicy = FAST,
    threshold: int = 3,
    cooldown: float = 0.3,
) -> OutboundGuard:
    """A guard with small delays and a short cool-down, so breaker tests take milliseconds."""
    breaker = CircuitBreaker(dependency, store, failure_threshold=threshold, cooldown=cooldown)
    return OutboundGuard(dependency, policy, breaker)


# One TLS context for every test client: building one per client costs ~45 ms.
_TLS = ssl.create_default_context()


def http_client() -> httpx.AsyncClient:
    """An HTTP client for the loopback server (cheap to make)."""
    return httpx.AsyncClient(timeout=5, verify=_TLS)


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET `url`, raising for an error status: the thunk shape every caller passes."""
    response = await client.get(url)
    response.raise_for_status()
    return response
