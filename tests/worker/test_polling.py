"""The due runs a worker fetched: offered again until taken or stale."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import WorkerFlowRunResponse

from flowdesk.worker.polling import DueRuns


def due(count: int) -> list[WorkerFlowRunResponse]:
    return [
        WorkerFlowRunResponse(
            work_pool_id=uuid.uuid4(),
            work_queue_id=uuid.uuid4(),
            flow_run=FlowRun(flow_id=uuid.uuid4(), expected_start_time=datetime.now(UTC)),
        )
        for _ in range(count)
    ]


class TestDueRuns:
    def test_nothing_fetched_yet_asks_for_a_fetch(self) -> None:
        runs = DueRuns()
        assert runs.offer() is None
        assert not runs.backlog

    def test_runs_not_taken_are_offered_again(self) -> None:
        runs, fetched = DueRuns(), due(5)
        runs.fetched(fetched, limit=8)
        runs.taken(run.flow_run.id for run in fetched[:2])
        offered = runs.offer()
        assert offered is not None
        assert [run.flow_run.id for run in offered] == [run.flow_run.id for run in fetched[2:]]
        assert runs.backlog

    def test_everything_taken_from_a_short_fetch_is_no_backlog(self) -> None:
        runs, fetched = DueRuns(), due(3)
        runs.fetched(fetched, limit=8)
        runs.taken(run.flow_run.id for run in fetched)
        assert runs.offer() is None
        assert not runs.backlog

    def test_a_full_fetch_means_more_may_be_due(self) -> None:
        runs, fetched = DueRuns(), due(8)
        runs.fetched(fetched, limit=8)
        runs.taken(run.flow_run.id for run in fetched)
        assert runs.offer() is None, "all taken: fetch again"
        assert runs.backlog, "the fetch was full: more runs may wait"

    def test_stale_runs_are_fetched_afresh(self, monkeypatch: pytest.MonkeyPatch) -> None:
        runs = DueRuns(max_age_seconds=1.0)
        runs.fetched(due(4), limit=8)
        later = time.monotonic() + 1.5
        monkeypatch.setattr(time, "monotonic", lambda: later)
        assert runs.offer() is None

    def test_fetches_are_spaced_by_the_gap(self, monkeypatch: pytest.MonkeyPatch) -> None:
        runs = DueRuns()
        assert runs.wait_before_fetch(0.2) == 0.0, "nothing fetched yet"
        now = time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: now)
        runs.fetched([], limit=8)
        runs.expire()  # a run became due: fetch again, but not at once
        assert runs.wait_before_fetch(0.2) == pytest.approx(0.2)
        monkeypatch.setattr(time, "monotonic", lambda: now + 0.5)
        assert runs.wait_before_fetch(0.2) == 0.0
