"""Imported once by the warm forkserver (flowdesk.worker.warm.PRELOAD), after the flows.
What is done here, every flow run forked from it finds done:

- the market data file is parsed, so the table is in the file provider's cache (a run
  still re-reads the file if it changed on disk since: the cache is keyed by its mtime
  and size);
- Prefect's server version check is passed once. Prefect checks the server's version
  once per process (GET /admin/version, with a fresh TLS context) from the engine's
  client and again from the log, event and websocket clients; a forked run inherits the
  process-wide record that the check passed.
- Prefect's API clients get their TLS context from a memo (see `_SharedTLSContexts`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import prefect.client.orchestration
from prefect import get_client
from prefect._internal import version_checking
from prefect.settings import get_current_settings

from flowdesk.marketdata import get_provider
from flowdesk.marketdata.file_provider import FileProvider
from flowdesk.settings import get_settings

logger = logging.getLogger(__name__)


def warm_market_data() -> None:
    try:
        provider = get_provider(get_settings())
        if isinstance(provider, FileProvider):
            provider.table()
    except Exception as exc:  # a forkserver must start whatever the data; runs report it
        logger.warning("market data not preloaded: %s", exc)


class _SharedTLSContexts:
    """`ssl` as Prefect's client modules see it: a verified default context for a given CA
    file is built once per process and shared.

    Prefect builds `ssl.create_default_context(cafile=certifi.where())` for every API
    client it creates, parsing the whole CA bundle each time (30-50 ms of CPU); a flow run
    creates seven (engine, result store, log and event workers, the suspension observer and
    version checks): a quarter of a warm run's CPU. A verified context is safe to share:
    Prefect hands it to httpx unchanged. Contexts Prefect changes after creating them (its
    TLS-verification-off path, with no CA file) are built fresh as before. Only Prefect's
    client modules see this object; `ssl` itself is untouched for the flow's own code.
    """

    def __init__(self) -> None:
        self._verified: dict[tuple[Any, ...], ssl.SSLContext] = {}

    def create_default_context(
        self,
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
    ) -> ssl.SSLContext:
        if cafile is None and capath is None and cadata is None:
            return ssl.create_default_context(purpose)
        key = (purpose, cafile, capath, cadata)
        if key not in self._verified:
            self._verified[key] = ssl.create_default_context(
                purpose, cafile=cafile, capath=capath, cadata=cadata
            )
        return self._verified[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)


def share_tls_contexts() -> None:
    for module in (prefect.client.orchestration, version_checking):
        if getattr(module, "ssl", None) is ssl:
            module.ssl = _SharedTLSContexts()  # type: ignore[attr-defined]


async def _check_server_version() -> None:
    api_url = get_current_settings().api.url
    if not api_url:
        return
    async with get_client() as client:
        await client.raise_for_api_version_mismatch_once()
    await version_checking.check_server_version(api_url, logger, raise_on_error=False)


def pass_version_check() -> None:
    try:
        asyncio.run(_check_server_version())
    except Exception as exc:  # each run checks for itself then
        logger.warning("Prefect server version not checked in advance: %s", exc)


warm_market_data()
share_tls_contexts()
pass_version_check()
