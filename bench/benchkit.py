"""What the benchmarks share: the machine line of their headers, percentiles, and a
fresh stack of their own (`flowdesk up` on new Postgres databases) that is always removed."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from tests.stack import Stack

ROOT = Path(__file__).resolve().parents[1]


# How a benchmark's own stack runs its Prefect server (--prefect-server).
PREFECT_SERVERS = {
    "split": "as its API and its services on Redis",
    "one": "as one process",
}


def add_prefect_server_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prefect-server",
        choices=list(PREFECT_SERVERS),
        default="split",
        help="the own stack's Prefect server as its API and its services on Redis (split, "
        "as flowdesk runs it on Postgres in production), or as one process",
    )


def machine() -> str:
    """Cores, CPU model and memory, e.g. '2 cores (AMD EPYC), 23.5 GiB'."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = f" ({models[0].split(':', 1)[1].strip()})" if models else ""
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores{cpu}, {memory:.1f} GiB"


def percentile(values: list[float], p: int) -> float | None:
    """The p-th percentile (inclusive method); the value itself for one, None for none."""
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


@contextmanager
def own_stack(
    extra_env: dict[str, str],
    log: Callable[[str], None],
    prefix: str = "flowdesk-bench-",
    *,
    split_prefect: bool = True,
) -> Iterator[Stack]:
    """A fresh stack with `extra_env`; stopped and its databases dropped at the end. Its
    Prefect server runs as its API and its services on Redis unless split_prefect is off."""
    sys.path.insert(0, str(ROOT))  # `tests` is not an installed package
    from tests.stack import drop_databases, start_stack, stop_stack

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        worker = extra_env.get("FLOWDESK_WORKER_TYPE", "flowdesk")
        log(f"starting flowdesk up with the {worker} worker on fresh Postgres databases ...")
        started = time.perf_counter()
        stack = start_stack(Path(tmp), extra_env=extra_env, split_prefect=split_prefect)
        try:
            log(f"stack ready in {time.perf_counter() - started:.0f} s at {stack.api_url}")
            yield stack
        finally:
            log("stopping the stack and dropping its databases ...")
            try:
                code = stop_stack(stack)
            finally:
                drop_databases(stack)
            if code != 0:
                log(f"flowdesk up exited with {code}; its log:\n{stack.log_tail(30)}")
