"""The session's stack, started in the background as soon as collection shows a test needs
it, so it boots while the tests that need no stack run; and the one scenario that needs a
stopped worker, run right after the boot, before any test that needs a working worker.

Order of a full run (`tests/conftest.py` puts the tests without the stack first):

    collection ──> background: receivers, `flowdesk up`, missed-ticks scenario (≥ 65 s)
                   foreground: the tests that need no stack
                ──> the first stack test waits for both, then the stack tests run

The scenario (three every-minute schedules whose first two ticks pass while the worker is
stopped) costs at least a minute of wall time; here it overlaps the unit tests instead of
adding to the suite. Its assertions are in tests/api/test_schedules.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests import services
from tests.desk_services import BackendApi, WebhookReceiver
from tests.stack import Stack, drop_databases, start_stack, stop_stack

# Each policy of the missed-ticks scenario, and what its two ticks must become.
MISSED_TICK_POLICIES: dict[str, dict[str, str]] = {
    "latest": {"catchup": "latest"},
    "none": {"catchup": "none"},
    "stale": {"catchup": "all", "stale_after": "1m"},
}


@dataclass
class MissedTicks:
    """Schedules created while the worker was stopped across their first two ticks."""

    api_key: str = ""
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    first: datetime | None = None
    second: datetime | None = None

    def run(self, stack: Stack) -> None:
        self.api_key = stack.create_user(f"ticks-{uuid.uuid4().hex[:6]}")
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as client:
            with stack.worker_stopped():
                for label, policy in MISSED_TICK_POLICIES.items():
                    body = {
                        "name": f"missed-{label}",
                        "job_type": "screener",
                        "target": "tech_majors",
                        "task_params": {"top_n": 5},
                        "cron": "* * * * *",
                        **policy,
                    }
                    response = client.post("/api/schedules", json=body)
                    assert response.status_code == 201, response.text
                    self.schedules[label] = response.json()
                # The first whole minute at least 3 s away, so its flow runs surely exist.
                soon = datetime.now(UTC) + timedelta(seconds=3)
                self.first = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
                self.second = self.first + timedelta(minutes=1)
                time.sleep((self.second - datetime.now(UTC)).total_seconds() + 3)


class SessionStack:
    """Boots the stack (and the scenario, if asked) in a thread; `get` waits for both."""

    def __init__(self, tmp: Path, *, with_missed_ticks: bool) -> None:
        self.backend_api = BackendApi()
        self.alert_receiver = WebhookReceiver()
        self.missed_ticks = MissedTicks() if with_missed_ticks else None
        self._tmp = tmp
        self._stack: Stack | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._boot, name="session-stack", daemon=True)
        self._thread.start()

    def _boot(self) -> None:
        try:
            self._stack = start_stack(
                self._tmp,
                extra_env={
                    "API_BASE_URL": self.backend_api.url,
                    "FLOWDESK_ALERT_WEBHOOK_URL": self.alert_receiver.url,
                    # One Redis database of its own: breaker state shared by every flow run.
                    "FLOWDESK_REDIS_URL": services.REDIS_TEST_URL,
                    # Quick retries and a short cool-down, so fault tests take seconds.
                    "FLOWDESK_RETRY_BASE_DELAY_SECONDS": "0.05",
                    "FLOWDESK_RETRY_MAX_DELAY_SECONDS": "0.2",
                    "FLOWDESK_BREAKER_COOLDOWN_SECONDS": "3",
                    # Half of flowdesk's 1 s: a run waits 0.25 s less on average for the
                    # worker, over the ~130 runs of the suite.
                    "PREFECT_WORKER_QUERY_SECONDS": "0.5",
                },
            )
            if self.missed_ticks is not None:
                self.missed_ticks.run(self._stack)
        except BaseException as exc:  # re-raised in the test thread by get()
            self._error = exc
        finally:
            self._done.set()

    def get(self, timeout: float = 600) -> Stack:
        """The running stack, once booted and once the scenario's worker is back."""
        if not self._done.wait(timeout):
            raise RuntimeError(f"the session stack did not come up within {timeout:g} s")
        if self._error is not None:
            raise RuntimeError("starting the session stack failed") from self._error
        assert self._stack is not None
        return self._stack

    def close(self) -> None:
        self._done.wait(600)
        if self._stack is not None:
            stop_stack(self._stack)
            drop_databases(self._stack)
        self.backend_api.close()
        self.alert_receiver.close()
