"""Python's garbage collector set up for flowdesk's long-running server processes: the
Prefect server's API and services, and flowdesk's API.

With CPython's default thresholds (700, 10, 10) a process that builds and drops many
small objects per request (SQLAlchemy rows, pydantic models) runs a young collection
every 700 allocations, and every 100th collection walks all of its objects, most of them
the modules, routes and models loaded at start-up. Measured here with four clients of
ad-hoc runs for 40 s on 2026-12-07 (gc.callbacks, start-up included): collections took
8.7 % of the Prefect API process's CPU and 7.5 % of its services'; with the start-up
objects frozen and the thresholds below, 2.9 % and 5.8 %. flowdesk's API already froze its
start-up objects; the thresholds took it from 7.3 % to 6.6 %.
"""

from __future__ import annotations

import gc
import importlib

# Allocations between young collections, then young collections per middle one and
# middle ones per full one. Young garbage lives a little longer; nothing else changes.
THRESHOLDS = (10_000, 20, 20)


def freeze() -> None:
    """Move every object alive now out of the collector's reach (they live as long as the
    process), and collect less often from then on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def freeze_after_imports(*modules: str) -> None:
    """Import `modules`, then `freeze()`."""
    for name in modules:
        importlib.import_module(name)
    freeze()
