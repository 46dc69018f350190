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

Deployments marked ready every few seconds, not on every poll. Each time a worker asks
for due runs (`get_scheduled_flow_runs`), the server queues a task that locks every
deployment of the pool's queues and rewrites their `status` and `last_polled`: with the
1,000 deployments of 1,000 schedules that is 1,000 rows locked and updated per poll, and
a flowdesk worker polls up to five times a second in a burst (5 clients of ad-hoc runs
beside 1,000 deployments: 674 ms of CPU per run, Postgres 194 of it, against 379 without
them). A set of deployments refreshed less than `READY_MARKS_EVERY` seconds ago is
refreshed again only if one of them is not ready (a new deployment becomes ready at the
first poll, as before); `last_polled` stays within that many seconds of the last poll,
far inside the 60 s after which Prefect's foreman marks a deployment not ready.

A flow run's labels patched with one read of them. A worker gives each flow run it takes
its labels (`PATCH /flow_runs/{id}/labels`); Prefect reads the whole flow run for that,
with its work queue and the queue's work pool (three queries), to merge one column: 20 ms
of server CPU per run, more than a state change (11-13 ms). The labels are read alone,
merged and written as before.

Per-request overheads of the server are removed in `flowdesk.prefect_overheads`, applied
with these.

Applied by `flowdesk.prefect_cli`, which starts the Prefect server's processes, before the
server's app is built; by importing `flowdesk.worker` (the Prefect collection flowdesk
registers, which the worker and block loading import); and by flowdesk's own processes.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from flowdesk import prefect_overheads

# Distinct schemas remembered as checked, per process: one per work pool type in use.
CHECKED_SCHEMAS = 64

# Seconds a set of deployments marked ready stays so without another mark; and how many
# such sets (one per pool, queue or worker's deployment list) are remembered.
READY_MARKS_EVERY = 10.0
READY_MARKS_REMEMBERED = 256

# Prefect's API modules that queue `mark_deployments_ready` after a poll.
_POLLING_APIS = (
    "prefect.server.api.workers",
    "prefect.server.api.work_queues",
    "prefect.server.api.deployments",
)


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


def mark_ready_less_often() -> None:
    """In the Prefect server, refresh a polled set of deployments every few seconds."""
    if "prefect.server.api.workers" not in sys.modules:
        return  # not the Prefect server: it imports its API before the collections
    from prefect.server.models import deployments

    original = deployments.mark_deployments_ready
    if getattr(original, "marks_less_often", False):
        return
    marked: OrderedDict[tuple[frozenset[str], frozenset[str]], float] = OrderedDict()

    @functools.wraps(original)
    async def mark_deployments_ready(
        *,
        deployment_ids: Iterable[Any] | None = None,
        work_queue_ids: Iterable[Any] | None = None,
        **injected: Any,
    ) -> None:
        ids, queues = list(deployment_ids or ()), list(work_queue_ids or ())
        key = (frozenset(map(str, ids)), frozenset(map(str, queues)))
        last = marked.get(key)
        if last is not None and time.monotonic() - last < READY_MARKS_EVERY:
            if not await _any_not_ready(ids, queues):
                return
        await original(deployment_ids=ids, work_queue_ids=queues, **injected)
        marked[key] = time.monotonic()
        marked.move_to_end(key)
        if len(marked) > READY_MARKS_REMEMBERED:
            marked.popitem(last=False)

    mark_deployments_ready.marks_less_often = True  # type: ignore[attr-defined]
    _replace(original, mark_deployments_ready)


async def _any_not_ready(deployment_ids: list[Any], work_queue_ids: list[Any]) -> bool:
    import sqlalchemy as sa
    from prefect.server.database import provide_database_interface
    from prefect.server.schemas.statuses import DeploymentStatus

    db = provide_database_interface()
    async with db.session_context() as session:
        found = await session.execute(
            sa.select(db.Deployment.id)
            .where(
                sa.or_(
                    db.Deployment.id.in_(deployment_ids),
                    db.Deployment.work_queue_id.in_(work_queue_ids),
                ),
                db.Deployment.status == DeploymentStatus.NOT_READY,
            )
            .limit(1)
        )
        return found.first() is not None


def _replace(
    original: Callable[..., Awaitable[None]], replacement: Callable[..., Awaitable[None]]
) -> None:
    """Put `replacement` wherever Prefect's server refers to `original` by name.

    The API modules hand the function to docket when a worker polls, and docket
    registers what it is handed under the function's name, so its worker runs the
    replacement from the next poll on."""
    from prefect.server.api import background_workers
    from prefect.server.models import deployments

    deployments.mark_deployments_ready = replacement  # type: ignore[assignment]
    for name in _POLLING_APIS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "mark_deployments_ready", None) is original:
            module.mark_deployments_ready = replacement  # type: ignore[attr-defined]
    functions = background_workers.task_functions
    functions[:] = [replacement if f is original else f for f in functions]


def patch_labels_lightly() -> None:
    """In the Prefect server, merge a flow run's labels reading only its labels."""
    if "prefect.server.api.flow_runs" not in sys.modules:
        return  # not the Prefect server
    import sqlalchemy as sa
    from prefect.server.database import PrefectDBInterface, db_injector
    from prefect.server.exceptions import ObjectNotFoundError
    from prefect.server.models import flow_runs
    from sqlalchemy.ext.asyncio import AsyncSession

    if getattr(flow_runs.update_flow_run_labels, "reads_labels_only", False):
        return

    @db_injector
    async def update_flow_run_labels(
        db: PrefectDBInterface,
        session: AsyncSession,
        flow_run_id: Any,
        labels: dict[str, Any],
    ) -> bool:
        row = (
            await session.execute(sa.select(db.FlowRun.labels).where(db.FlowRun.id == flow_run_id))
        ).first()
        if row is None:
            raise ObjectNotFoundError(f"Flow run with id {flow_run_id} not found")
        result = await session.execute(
            sa.update(db.FlowRun)
            .where(db.FlowRun.id == flow_run_id)
            .values(labels={**(row[0] or {}), **labels})
        )
        updated: bool = result.rowcount > 0  # type: ignore[attr-defined]
        if updated:
            await session.commit()
        return updated

    update_flow_run_labels.reads_labels_only = True  # type: ignore[attr-defined]
    flow_runs.update_flow_run_labels = update_flow_run_labels


def apply() -> None:
    """Every fix in this module."""
    cache_time_zones()
    check_schemas_once()
    mark_ready_less_often()
    patch_labels_lightly()
    prefect_overheads.apply()
