"""The worker serves a deployment it read moments ago instead of reading it again."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from flowdesk.worker import reads


class Counted:
    def __init__(self) -> None:
        self.calls: list[uuid.UUID] = []

    async def __call__(self, object_id: uuid.UUID) -> str:
        self.calls.append(object_id)
        return f"read {len(self.calls)}"


class TestRecent:
    def test_a_second_read_within_the_period_is_served_again(self) -> None:
        read, key = Counted(), uuid.uuid4()
        recent = reads._Recent(read, seconds=2.0)
        first = asyncio.run(recent(key))
        assert asyncio.run(recent(key)) == first
        assert read.calls == [key]

    def test_after_the_period_it_is_read_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        read, key = Counted(), uuid.uuid4()
        recent = reads._Recent(read, seconds=2.0)
        asyncio.run(recent(key))
        later = time.monotonic() + 3
        monkeypatch.setattr(time, "monotonic", lambda: later)
        assert asyncio.run(recent(key)) == "read 2"

    def test_other_ids_are_read_each(self) -> None:
        read = Counted()
        recent = reads._Recent(read, seconds=2.0)
        for _ in range(3):
            asyncio.run(recent(uuid.uuid4()))
        assert len(read.calls) == 3

    def test_expired_entries_are_dropped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(reads, "PRUNE_AT", 4)
        recent = reads._Recent(Counted(), seconds=2.0)
        for _ in range(4):
            asyncio.run(recent(uuid.uuid4()))
        later = time.monotonic() + 3
        monkeypatch.setattr(time, "monotonic", lambda: later)
        asyncio.run(recent(uuid.uuid4()))
        assert len(recent._results) == 1
