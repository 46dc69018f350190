"""Fixes flowdesk applies to Prefect 3.8.8 in each process that runs Prefect's code.

Time zones listed once. Prefect validates every cron schedule's time zone against
`zoneinfo.available_timezones()`, which walks the time-zone database on disk (about 600
files, 3 ms of CPU here) on every call. The server validates each deployment schedule it
reads from its database, so each read of a flowdesk schedule's deployment (the worker,
the flow run's events, the scheduler service) pays it: py-spy put 37 % of the Prefect
server's CPU in that walk during a burst of 100 scheduled runs. The list is read once per
process instead; a time-zone database updated on disk is seen after a restart, as
Python's own `zoneinfo` caches the zones it has loaded.

A job-variables schema checked once. Creating a flow run of a deployment validates its
job variables against its work pool's variables schema, and before that checks the
schema itself against the JSON Schema metaschema, twice (`is_valid_schema`, then again
inside `jsonschema.validate`): the same pool schema on every run, and 7.5 % of the
Prefect server's CPU (py-spy) while flowdesk's API submitted screener runs. A schema
that passed the check is not checked again while it is unchanged (its JSON text is the
key); a schema that fails is checked, and refused, every time.

Applied by importing `flowdesk.worker` (the Prefect collection flowdesk registers, which
the Prefect server, the worker and block loading import) and by flowdesk's own processes.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from typing import Any

# Distinct schemas remembered as checked, per process: one per work pool type in use.
CHECKED_SCHEMAS = 64


def cache_time_zones() -> None:
    """Make Prefect list the available time zones once per process."""
    from prefect._internal.schemas import validators

    listed = validators.get_timezones  # type: ignore[attr-defined]
    if not isinstance(listed, functools._lru_cache_wrapper):
        validators.get_timezones = functools.cache(listed)  # type: ignore[attr-defined]


def check_schemas_once() -> None:
    """Make Prefect's job-variables validator check each distinct schema once."""
    from prefect.utilities.schema_tools import validation

    validator = validation._VALIDATOR
    if getattr(validator.check_schema, "checks_once", False):
        return
    check = validator.check_schema
    checked: OrderedDict[str, None] = OrderedDict()

    def check_schema(schema: Any, *args: Any, **kwargs: Any) -> None:
        try:
            key = json.dumps([schema, args, sorted(kwargs)], sort_keys=True, default=repr)
        except (TypeError, ValueError):  # not JSON: check it as Prefect would
            check(schema, *args, **kwargs)
            return
        if key in checked:
            checked.move_to_end(key)
            return
        check(schema, *args, **kwargs)
        checked[key] = None
        if len(checked) > CHECKED_SCHEMAS:
            checked.popitem(last=False)

    check_schema.checks_once = True  # type: ignore[attr-defined]
    validator.check_schema = staticmethod(check_schema)


def apply() -> None:
    """Every fix in this module."""
    cache_time_zones()
    check_schemas_once()
