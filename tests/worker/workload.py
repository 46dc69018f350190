"""A test workload for the flowdesk worker (not shipped): a flow that sleeps on its first
attempt, or kills its own process, and logs each attempt to a file: the attempt, its pid,
its parent's pid, how many market data files its process had already parsed, and how
many TLS contexts Prefect's clients in it built (-1: not shared, a fresh interpreter)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import prefect.client.orchestration
from prefect import flow
from prefect.runtime import flow_run

from flowdesk.marketdata import file_provider


@flow(name="flowdesk-test-workload", persist_result=False)
def workload(journal: str, seconds: float = 0.0, crash: bool = False) -> int:
    """Sleep `seconds` on the first attempt only; with `crash`, die like a segfault."""
    attempt = int(flow_run.run_count)
    # Market data files already parsed in this process (the warm worker preloads them).
    parsed = len(file_provider._cache)
    # Not imported here: importing flowdesk.worker.preload does the preloading.
    tls = prefect.client.orchestration.ssl
    shared = type(tls).__name__ == "_SharedTLSContexts"
    contexts = len(tls._verified) if shared else -1
    with Path(journal).open("a") as out:
        out.write(
            f"start {flow_run.id} {attempt} {os.getpid()} {os.getppid()} {parsed} {contexts}\n"
        )
    if crash:
        os._exit(7)
    if attempt == 1:
        time.sleep(seconds)
    with Path(journal).open("a") as out:
        out.write(f"done {flow_run.id} {attempt} {os.getpid()}\n")
    return attempt
