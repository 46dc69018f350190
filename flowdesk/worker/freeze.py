"""Imported last by the warm forkserver (flowdesk.worker.warm.PRELOAD): moves everything
it has imported and built out of the garbage collector's reach before it forks.

A forked process shares its parent's memory until it writes to it, and a garbage
collection writes to every object it examines: without this, an executor's first
collections copied most of the forkserver's objects into memory of its own.
"""

import gc

gc.collect()
gc.freeze()
