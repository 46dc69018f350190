"""Loopback stand-ins for the desk's outside world, started before the session's stack:
the seed's Backend API (serving the sample feeds as JSON, failing on purpose when told)
and a webhook receiver that records the alerts it is sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flowdesk.biotech.companies import load_companies
from flowdesk.biotech.news.sample import SampleFeedSource
from tests.stack import ROOT


class _Server:
    """A threaded HTTP server on a free loopback port; `handle` answers each request."""

    def __init__(self, handle: Callable[[str, str, bytes], tuple[int, dict[str, Any] | None]]):
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.requests.append((self.command, self.path))
                status, payload = handle(self.command, self.path, body)
                data = json.dumps(payload or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class BackendApi:
    """`GET /api/companies/{id}/news` from the sample feeds (replayed to now), per the
    contract in flowdesk/biotech/news/backend.py; `fail(n)` makes the next n answer 503
    (None: every one, until `recover()`)."""

    def __init__(self) -> None:
        companies = load_companies(ROOT / "config" / "companies.yaml")
        self._sample = SampleFeedSource(ROOT / "data" / "sample" / "news", companies)
        self._failures: int | None = 0
        self.failed = 0
        self.server = _Server(self._handle)
        self.url = self.server.url

    def fail(self, failures: int | None) -> None:
        with self.server.lock:
            self._failures, self.failed = failures, 0

    def recover(self) -> None:
        self.fail(0)

    def news_requests(self) -> int:
        with self.server.lock:
            return sum(1 for _, path in self.server.requests if "/news" in path)

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        with self.server.lock:
            if self._failures is None or self.failed < self._failures:
                self.failed += 1
                return 503, {"error": "backend down on purpose"}
        parts = path.split("?", 1)[0].strip("/").split("/")
        if method != "GET" or len(parts) != 4 or parts[:2] != ["api", "companies"]:
            return 404, {"error": f"no route {path}"}
        self._sample.replay_at = datetime.now(UTC)
        items = [i for i in self._sample.read_all() if i.company_id == parts[2]]
        return 200, {
            "items": [
                {
                    "id": item.fingerprint,
                    "title": item.title,
                    "summary": item.summary,
                    "url": item.url,
                    "published_at": item.published_at.isoformat(),
                }
                for item in items
            ]
        }

    def close(self) -> None:
        self.server.close()


class WebhookReceiver:
    """Records every JSON body POSTed to it; `fail(n)` answers 500 to the next n."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._failures = 0
        self.server = _Server(self._handle)
        self.url = f"{self.server.url}/alerts"

    def fail(self, failures: int) -> None:
        with self.server.lock:
            self._failures = failures

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        with self.server.lock:
            if self._failures > 0:
                self._failures -= 1
                return 500, {"error": "receiver down on purpose"}
            self.received.append(json.loads(body))
        return 200, {"ok": True}

    def alerts(self) -> list[dict[str, Any]]:
        """Each alert received (not report notices): its subject and its JSON body, parsed."""
        with self.server.lock:
            posts = list(self.received)
        return [
            {"subject": post["subject"], **json.loads(post["body"])}
            for post in posts
            if post["body"].startswith("{")
        ]

    def wait_for(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.alerts()) >= count:
                return found
            time.sleep(0.2)
        raise AssertionError(f"{len(self.alerts())} alerts received, wanted {count}")

    def close(self) -> None:
        self.server.close()


def sample_dir() -> Path:
    return ROOT / "data" / "sample" / "news"
