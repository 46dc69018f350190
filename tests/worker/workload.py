"""A test workload for the flowdesk worker (not shipped): a flow that sleeps on its first
attempt, or kills its own process, or takes `steps` small task runs, or is cancelled
through the API just as it returns, and logs each
attempt to a file: the attempt, its pid, its parent's pid, how many market data files
its process had already parsed, and how many TLS contexts Prefect's clients in it built
(-1: not shared, a fresh interpreter); then a line per step, one when done, and one per
cancellation hook run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import prefect.client.orchestration
from prefect import Flow, flow, get_client, task
from prefect.client.schemas.objects import FlowRun, State
from prefect.runtime import flow_run
from prefect.states import Cancelling

from flowdesk.marketdata import file_provider


@task(persist_result=False)
def step(journal: str, number: int) -> None:
    """One small step: a line in the journal."""
    with Path(journal).open("a") as out:
        out.write(f"step {flow_run.id} {number}\n")
    time.sleep(0.2)


def note_cancellation(flow: Flow[..., int], flow_run: FlowRun, state: State[int]) -> None:
    with Path(flow_run.parameters["journal"]).open("a") as out:
        out.write(f"cancelled {flow_run.id} {state.name}\n")


@flow(name="flowdesk-test-workload", persist_result=False, on_cancellation=[note_cancellation])
def workload(
    journal: str,
    seconds: float = 0.0,
    crash: bool = False,
    steps: int = 0,
    cancel_at_end: bool = False,
) -> int:
    """Sleep `seconds` on the first attempt only; with `crash`, die like a segfault; then
    take `steps` task runs (each is where a suspension requested from outside lands); with
    `cancel_at_end`, be cancelled as an API user would, right before returning."""
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
    for number in range(steps):
        step(journal, number)
    with Path(journal).open("a") as out:
        out.write(f"done {flow_run.id} {attempt} {os.getpid()}\n")
    if cancel_at_end:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Cancelling(message="cancelled as it ended"))
    return attempt
