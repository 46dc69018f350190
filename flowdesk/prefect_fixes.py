"""A fix flowdesk applies to Prefect 3.8.8 in each process that runs Prefect's code.

Prefect validates every cron schedule's time zone against
`zoneinfo.available_timezones()`, which walks the time-zone database on disk (about 600
files, 3 ms of CPU here) on every call. The server validates each deployment schedule it
reads from its database, so each read of a flowdesk schedule's deployment (the worker,
the flow run's events, the scheduler service) pays it: py-spy put 37 % of the Prefect
server's CPU in that walk during a burst of 100 scheduled runs. The list is read once per
process instead; a time-zone database updated on disk is seen after a restart, as
Python's own `zoneinfo` caches the zones it has loaded.

Applied by importing `flowdesk.worker` (the Prefect collection flowdesk registers, which
the Prefect server, the worker and block loading import) and by flowdesk's own processes.
"""

from __future__ import annotations

import functools


def cache_time_zones() -> None:
    """Make Prefect list the available time zones once per process."""
    from prefect._internal.schemas import validators

    listed = validators.get_timezones  # type: ignore[attr-defined]
    if not isinstance(listed, functools._lru_cache_wrapper):
        validators.get_timezones = functools.cache(listed)  # type: ignore[attr-defined]
