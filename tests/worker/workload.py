"""A test workload for the flowdesk worker (not shipped): a flow that sleeps on its first
attempt, or kills its own process, and logs each attempt to a file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run


@flow(name="flowdesk-test-workload", persist_result=False)
def workload(journal: str, seconds: float = 0.0, crash: bool = False) -> int:
    """Sleep `seconds` on the first attempt only; with `crash`, die like a segfault."""
    attempt = int(flow_run.run_count)
    with Path(journal).open("a") as out:
        out.write(f"start {flow_run.id} {attempt} {os.getpid()} {os.getppid()}\n")
    if crash:
        os._exit(7)
    if attempt == 1:
        time.sleep(seconds)
    with Path(journal).open("a") as out:
        out.write(f"done {flow_run.id} {attempt} {os.getpid()}\n")
    return attempt
