"""What the worker read from Prefect moments ago, served again instead of read twice.

Prefect's BaseWorker reads a flow run's deployment to check that it still exists, then
again, milliseconds later, to build the run's job configuration, and reads the run's
flow every time. At hundreds of runs a minute that is two requests per run the server
answers (about 8 ms of its CPU) with what it has just said. A deployment read is served
again for two seconds, so a submission sees one consistent deployment; a flow (its name
and labels, for the run's environment and labels) for a minute.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient

DEPLOYMENT_SECONDS = 2.0
FLOW_SECONDS = 60.0
# Expired entries are dropped once this many are remembered.
PRUNE_AT = 256


class _Recent:
    """Results of one read, by id, each for `seconds` after it was read."""

    def __init__(self, read: Callable[[UUID], Awaitable[Any]], seconds: float) -> None:
        self._read = read
        self._seconds = seconds
        self._results: dict[UUID, tuple[float, Any]] = {}

    async def __call__(self, object_id: UUID) -> Any:
        now = time.monotonic()
        remembered = self._results.get(object_id)
        if remembered is not None and now - remembered[0] < self._seconds:
            return remembered[1]
        result = await self._read(object_id)
        if len(self._results) >= PRUNE_AT:
            self._results = {
                key: kept for key, kept in self._results.items() if now - kept[0] < self._seconds
            }
        self._results[object_id] = (now, result)
        return result


class RecentReads:
    """Makes a client serve recent deployment and flow reads again."""

    def __init__(self, client: PrefectClient) -> None:
        self._client = client

    def install(self) -> None:
        client = self._client
        client.read_deployment = _Recent(client.read_deployment, DEPLOYMENT_SECONDS)  # type: ignore[method-assign,assignment]
        client.read_flow = _Recent(client.read_flow, FLOW_SECONDS)  # type: ignore[method-assign,assignment]
