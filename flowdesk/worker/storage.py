"""Inside a warm executor: the Prefect server's default result storage, read once a minute.

Prefect's engine asks the server for its default result storage (`GET /admin/storage`)
at the start of every flow run, to build the run's result store, even for flows that
persist no result (all of flowdesk's): a round trip and 5.8 ms of the server's CPU per
run here (100 reads). An executor runs flow run after flow run against the same API, so
it keeps a successful answer for `KEEP_SECONDS`, per API URL; a default storage changed
on the server (`prefect config`, `PUT /admin/storage`) reaches the runs within that time.
A read that fails is not kept: Prefect falls back to local storage for that run, as before.
"""

from __future__ import annotations

import functools
import time
from typing import Any

KEEP_SECONDS = 60.0

_kept: dict[str, tuple[float, Any]] = {}


def _remembered(client: Any) -> Any | None:
    hit = _kept.get(str(client.api_url))
    if hit is None or time.monotonic() - hit[0] >= KEEP_SECONDS:
        return None
    return hit[1].model_copy()


def _remember(client: Any, answer: Any) -> Any:
    _kept[str(client.api_url)] = (time.monotonic(), answer)
    return answer.model_copy()


def keep_default_storage() -> None:
    """Make Prefect's clients in this process reuse a recent default-storage answer."""
    from prefect.client.orchestration import PrefectClient, SyncPrefectClient

    read_async = PrefectClient.read_server_default_result_storage
    read_sync = SyncPrefectClient.read_server_default_result_storage
    if getattr(read_async, "kept", False):
        return

    @functools.wraps(read_async)
    async def read_server_default_result_storage(self: PrefectClient) -> Any:
        kept = _remembered(self)
        return kept if kept is not None else _remember(self, await read_async(self))

    @functools.wraps(read_sync)
    def read_server_default_result_storage_sync(self: SyncPrefectClient) -> Any:
        kept = _remembered(self)
        return kept if kept is not None else _remember(self, read_sync(self))

    read_server_default_result_storage.kept = True  # type: ignore[attr-defined]
    PrefectClient.read_server_default_result_storage = read_server_default_result_storage  # type: ignore[method-assign]
    SyncPrefectClient.read_server_default_result_storage = read_server_default_result_storage_sync  # type: ignore[method-assign]
