"""A second worker process for the cross-process test: fails calls until its breaker opens.

    python -m tests.resilience.worker_process <redis dsn> <prefix> <dependency> <url>

Writes one JSON line: how many calls it made before the breaker refused one.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx

from flowdesk.errors import CircuitOpen, DependencyUnavailable
from flowdesk.resilience import CircuitBreaker, OutboundGuard, RedisBreakerStore, RetryPolicy


async def open_breaker(dsn: str, prefix: str, dependency: str, url: str) -> dict[str, object]:
    store = RedisBreakerStore(dsn, prefix=prefix)
    breaker = CircuitBreaker(dependency, store, failure_threshold=3, cooldown=30)
    guard = OutboundGuard(dependency, RetryPolicy(attempts=1), breaker)
    failed = 0
    async with httpx.AsyncClient(timeout=5) as client:

        async def get() -> httpx.Response:
            response = await client.get(url)
            response.raise_for_status()
            return response

        try:
            for _ in range(10):
                try:
                    await guard.call(get)
                except CircuitOpen:
                    raise
                except DependencyUnavailable:
                    failed += 1
        except CircuitOpen as refused:
            return {"failed": failed, "refused": refused.detail}
        finally:
            await store.aclose()
    return {"failed": failed, "refused": None}


if __name__ == "__main__":
    outcome = asyncio.run(open_breaker(*sys.argv[1:5]))
    sys.stdout.write(json.dumps(outcome) + "\n")
