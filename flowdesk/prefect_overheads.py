"""Per-request and per-row overheads removed from Prefect 3.8.8's server, in each process
that runs it (applied with flowdesk.prefect_fixes). Each found with py-spy in a burst of
scheduled runs and measured (README, "What each step gained").

A content-type default without a second task per request. Prefect's API app defaults a
request body's missing `Content-Type` to JSON (for clients older than 3.6.19) in an
`@app.middleware("http")` function: Starlette runs each such function as a
`BaseHTTPMiddleware`, which runs the rest of the app in a task of its own and passes the
response back through memory streams, on every request. The same default is now a plain
ASGI middleware in the same place of the stack.

Dependencies called on the event loop. FastAPI runs a synchronous dependency in its
thread pool, a hand-off to a thread and back per call; almost every Prefect route has
one (the database interface, a limit, a version header), each a few dictionary look-ups.
They are now called inline, in the routes' own dependants and in the route contexts
FastAPI 0.150 builds for the routes of included routers (almost all of Prefect's), which
have dependants of their own: the thread pool's hand-offs were 6 % of the API process
under a steady load of runs, and are gone.

Timestamps handed to asyncpg as plain datetimes. Prefect's models carry pendulum
`DateTime`s; asyncpg encodes a timestamp by converting it to UTC and subtracting its
epoch, which for a pendulum value builds pendulum intervals and time-zone conversions in
Python (8 % of the services process in a burst: the events it persists). The `Timestamp`
column type now passes Postgres the same instant as a plain `datetime` with a fixed
offset; SQLite's conversion is unchanged.

A flow run and a deployment read in one query. Prefect loads a flow run's state, the
state's result artifact, its work queue and the queue's work pool with one `selectin`
query each after the run's own (11 % of the API process in a burst), and a deployment's
work queue, work pool and concurrency limit likewise; every state change reads the run,
and its concurrency rules the deployment. They are now joined into the first query (a
deployment's schedules, a list, keep their own). A flow run read `for_update` locks the
flow run's row alone, as before.

prefect-redis's publisher settings read once. prefect-redis builds its publisher's
settings from the environment for each publisher, and the server opens one for every
event it emits (18 % of a state change's CPU). They are read once per process; a change
to `PREFECT_REDIS_MESSAGING_PUBLISHER_*` takes a restart, like every other server setting.

A pooled connection pinged only after it sat idle. Prefect's Postgres engine pings every
connection it takes from its pool (`pool_pre_ping`): with asyncpg a `BEGIN`, an empty
query and a `ROLLBACK`, three round trips before each session's first statement (3.8 % of
the API process in a steady load of runs). A connection put back less than
PING_AFTER_IDLE_SECONDS ago is now handed out as it is; an older one is pinged as before
and, when dead, replaced together with the pool's older connections. A connection that
died within those seconds (Postgres restarted) fails the statement it is used for, and
SQLAlchemy then discards the pool's older connections, as it does without a ping.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The name of Prefect's `@app.middleware("http")` function that DefaultContentType replaces.
PREFECT_CONTENT_TYPE_MIDDLEWARE = "default_content_type"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON = (b"content-type", b"application/json")
_UTC = datetime.UTC
# A pooled connection put back longer ago than this is pinged before it is used again.
PING_AFTER_IDLE_SECONDS = 5.0
_CHECKED_IN = "flowdesk_checked_in"


class DefaultContentType:
    """A request with a body and no `Content-Type` is read as JSON (Prefect's
    `default_content_type`, as a plain ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            headers: list[tuple[bytes, bytes]] = scope["headers"]
            if _has_body(headers) and not any(name == b"content-type" for name, _ in headers):
                scope["headers"] = [*headers, _JSON]
        await self.app(scope, receive, send)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip().isdigit() and int(value) > 0
    return False


def replace_content_type_middleware(app: Any) -> bool:
    """Swap Prefect's `default_content_type` function middleware in `app` (before its
    first request) for DefaultContentType; whether it was there."""
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    for index, entry in enumerate(app.user_middleware):
        dispatch = entry.kwargs.get("dispatch")
        if (
            entry.cls is BaseHTTPMiddleware
            and getattr(dispatch, "__name__", None) == PREFECT_CONTENT_TYPE_MIDDLEWARE
        ):
            app.user_middleware[index] = Middleware(DefaultContentType)
            return True
    return False


def _inline(call: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def inline(**values: Any) -> Any:
        return call(**values)

    inline.__name__ = inline.__qualname__ = getattr(call, "__name__", "dependency")
    return inline


def _runs_in_a_thread(call: Any) -> bool:
    """A Prefect server dependency FastAPI would run in its thread pool: a plain function
    or a class, not a generator, not a coroutine."""
    if not getattr(call, "__module__", "").startswith("prefect.server."):
        return False
    if inspect.isclass(call):
        return True
    return inspect.isfunction(call) and not (
        inspect.iscoroutinefunction(call)
        or inspect.isgeneratorfunction(call)
        or inspect.isasyncgenfunction(call)
    )


# One wrapper per Prefect dependency, shared by every route and route context: FastAPI's
# per-request cache of a dependency keys on its callable.
_INLINE_WRAPPERS: dict[Any, Callable[..., Awaitable[Any]]] = {}


def _inline_dependant(dependant: Any) -> int:
    """Replace the synchronous Prefect dependencies under `dependant` by inline wrappers;
    how many were replaced."""
    changed = 0
    for sub in dependant.dependencies:
        if _runs_in_a_thread(sub.call):
            if sub.call not in _INLINE_WRAPPERS:
                _INLINE_WRAPPERS[sub.call] = _inline(sub.call)
            sub.call = _INLINE_WRAPPERS[sub.call]
            changed += 1
        changed += _inline_dependant(sub)
    return changed


def inline_dependencies(app: Any) -> int:
    """Make every route of `app` call Prefect's synchronous dependencies on the event loop;
    how many dependants changed."""
    return sum(_inline_dependant(route.dependant) for route in _routes(app.router))


def inline_included_route_dependencies() -> None:
    """Make the routes of included routers call Prefect's synchronous dependencies on the
    event loop too.

    FastAPI (0.150 here) serves a route of an included router, almost every Prefect
    route, through a route context of its own, built on the first request that reaches it
    with a dependant of its own: changing the route's dependant does not reach it.
    """
    from fastapi import routing

    contexts = getattr(routing, "_EffectiveRouteContext", None)
    if contexts is None:
        return  # an older FastAPI: the routes' own dependants serve (inline_dependencies)
    build = contexts.from_api_route
    if getattr(build, "inlined", False):
        return

    @functools.wraps(build.__func__)
    def from_api_route(cls: Any, **kwargs: Any) -> Any:
        context = build.__func__(cls, **kwargs)
        if context.dependant is not None:
            _inline_dependant(context.dependant)
        return context

    from_api_route.inlined = True  # type: ignore[attr-defined]
    contexts.from_api_route = classmethod(from_api_route)  # type: ignore[arg-type]


def _routes(router: Any) -> Iterable[Any]:
    for route in getattr(router, "routes", None) or []:
        if hasattr(route, "dependant"):
            yield route
        for name in ("original_router", "router"):
            inner = getattr(route, name, None)
            if inner is not None and inner is not route:
                yield from _routes(inner)


def lighter_api_app() -> None:
    """Make Prefect's API app default the content type without a BaseHTTPMiddleware and
    call its synchronous dependencies without a thread."""
    server = sys.modules.get("prefect.server.api.server")
    if server is None or getattr(server.create_api_app, "lighter", False):
        return
    inline_included_route_dependencies()
    original = server.create_api_app

    @functools.wraps(original)
    def create_api_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        replace_content_type_middleware(app)
        inline_dependencies(app)
        return app

    create_api_app.lighter = True  # type: ignore[attr-defined]
    server.create_api_app = create_api_app  # type: ignore[attr-defined]


def plain_datetime(value: datetime.datetime) -> datetime.datetime:
    """The same instant as a plain `datetime` (a subclass's, such as pendulum's, is
    rebuilt with a fixed UTC offset)."""
    if type(value) is datetime.datetime:
        return value
    offset = value.utcoffset()
    return datetime.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=_UTC if not offset else datetime.timezone(offset),
    )


def plain_timestamps() -> None:
    """Make Prefect's `Timestamp` columns bind plain datetimes on Postgres."""
    from prefect.server.utilities.database import Timestamp

    original = Timestamp.process_bind_param
    if getattr(original, "plain_datetimes", False):
        return

    @functools.wraps(original)
    def process_bind_param(
        self: Timestamp, value: datetime.datetime | None, dialect: Any
    ) -> datetime.datetime | None:
        bound = original(self, value, dialect)
        if bound is None or dialect.name == "sqlite":
            return bound
        return plain_datetime(bound)

    process_bind_param.plain_datetimes = True  # type: ignore[attr-defined]
    Timestamp.process_bind_param = process_bind_param  # type: ignore[method-assign]


def joined_flow_run_reads() -> None:
    """Make Prefect read a flow run with its state, the state's result artifact, its
    work queue and the queue's work pool in one query."""
    if "prefect.server.models.flow_runs" not in sys.modules:
        return  # not the Prefect server
    import sqlalchemy as sa
    from prefect.server.database import PrefectDBInterface, db_injector
    from prefect.server.models import flow_runs
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import joinedload

    if getattr(flow_runs.read_flow_run, "joined", False):
        return

    @db_injector
    async def read_flow_run(
        db: PrefectDBInterface,
        session: AsyncSession,
        flow_run_id: Any,
        for_update: bool = False,
    ) -> Any:
        select = (
            sa.select(db.FlowRun)
            .where(db.FlowRun.id == flow_run_id)
            .options(
                joinedload(db.FlowRun._state).joinedload(db.FlowRunState._result_artifact),
                joinedload(db.FlowRun.work_queue).joinedload(db.WorkQueue.work_pool),
            )
        )
        if for_update:
            select = select.with_for_update(of=db.FlowRun)
        return (await session.execute(select)).scalar()

    read_flow_run.joined = True  # type: ignore[attr-defined]
    flow_runs.read_flow_run = read_flow_run


def joined_deployment_reads() -> None:
    """Make Prefect read a deployment with its work queue, the queue's work pool and its
    concurrency limit in one query (its schedules, a list, in a second)."""
    if "prefect.server.models.deployments" not in sys.modules:
        return  # not the Prefect server
    from prefect.server.database import PrefectDBInterface, db_injector
    from prefect.server.models import deployments
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import joinedload

    if getattr(deployments.read_deployment, "joined", False):
        return

    @db_injector
    async def read_deployment(
        db: PrefectDBInterface, session: AsyncSession, deployment_id: Any
    ) -> Any:
        return await session.get(
            db.Deployment,
            deployment_id,
            options=[
                joinedload(db.Deployment.work_queue).joinedload(db.WorkQueue.work_pool),
                joinedload(db.Deployment.global_concurrency_limit),
            ],
        )

    read_deployment.joined = True  # type: ignore[attr-defined]
    deployments.read_deployment = read_deployment


def publisher_settings_once() -> None:
    """Make prefect-redis read its publisher settings from the environment once per
    process, not for each publisher (the server opens one per event it emits)."""
    from prefect.settings import get_current_settings

    redis_broker = "prefect_redis.messaging"
    if get_current_settings().server.events.messaging_broker != redis_broker:
        return
    from prefect_redis import messaging

    read = messaging.RedisMessagingPublisherSettings
    if not isinstance(read, functools._lru_cache_wrapper):
        messaging.RedisMessagingPublisherSettings = functools.cache(read)


def ping_after_idle(pool: Any, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Make `pool` ping a connection on checkout only when it was checked in more than
    `idle_seconds` ago (a dead one is replaced), instead of on every checkout."""
    from sqlalchemy import event, exc

    if getattr(pool, "_flowdesk_ping_after_idle", False):
        return
    pool._flowdesk_ping_after_idle = True
    pool._pre_ping = False
    dialect = pool._dialect

    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in <= idle_seconds:
            return  # new, or used a moment ago
        # As SQLAlchemy's own pre-ping: a disconnect discards the pool's older connections
        # too (they went down with the server) and checks out a new one.
        if not dialect._do_ping_w_event(dbapi_connection):
            raise exc.InvalidatePoolError()

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


def ping_idle_connections_only() -> None:
    """Make Prefect's Postgres engines ping a pooled connection only after it sat idle."""
    configurations = sys.modules.get("prefect.server.database.configurations")
    if configurations is None:
        return  # not the Prefect server: its database modules stay unimported
    postgres = configurations.AsyncPostgresConfiguration
    original = postgres.engine
    if getattr(original, "ping_after_idle", False):
        return

    @functools.wraps(original)
    async def engine(self: Any) -> Any:
        created = await original(self)
        if created.sync_engine.pool._pre_ping:
            ping_after_idle(created.sync_engine.pool)
        return created

    engine.ping_after_idle = True  # type: ignore[attr-defined]
    postgres.engine = engine


def apply() -> None:
    lighter_api_app()
    plain_timestamps()
    joined_flow_run_reads()
    joined_deployment_reads()
    publisher_settings_once()
    ping_idle_connections_only()
