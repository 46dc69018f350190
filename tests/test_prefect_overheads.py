"""Overheads removed from Prefect's server: the content-type default as plain ASGI, its
synchronous dependencies called on the event loop, plain datetimes for asyncpg, and a
flow run read in one query. The stack's Prefect server runs with all of them."""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import subprocess
import sys
import uuid
from collections.abc import Iterable, MutableMapping
from typing import Any

import httpx
import pendulum
import psycopg
import pytest
import sqlalchemy as sa
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import _is_coroutine_callable
from prefect.server.api import server
from prefect.server.models import deployments, flow_runs
from prefect.server.utilities.database import Timestamp
from prefect.settings import PREFECT_MESSAGING_BROKER, temporary_settings
from prefect_redis import messaging as redis_messaging
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.middleware.base import BaseHTTPMiddleware

from flowdesk import prefect_overheads
from flowdesk.prefect_overheads import (
    PREFECT_CONTENT_TYPE_MIDDLEWARE,
    DefaultContentType,
    inline_dependencies,
    plain_datetime,
    replace_content_type_middleware,
)
from tests import services
from tests.stack import Stack

Headers = list[tuple[bytes, bytes]]
_PUBLISHER_SETTINGS = redis_messaging.RedisMessagingPublisherSettings


def _headers_seen(method: str, headers: Headers) -> Headers:
    return asyncio.run(_headers_reaching_the_app(method, headers))


async def _headers_reaching_the_app(method: str, headers: Headers) -> Headers:
    seen: list[Headers] = []

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        seen.append(list(scope["headers"]))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    scope = {"type": "http", "method": method, "headers": list(headers)}
    await DefaultContentType(app)(scope, receive, send)
    return seen[0]


class TestDefaultContentType:
    JSON = (b"content-type", b"application/json")

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
    def test_a_body_without_a_content_type_is_read_as_json(self, method: str) -> None:
        headers = _headers_seen(method, [(b"content-length", b"12")])
        assert headers == [(b"content-length", b"12"), self.JSON]

    def test_a_content_type_given_is_kept(self) -> None:
        given = [(b"content-type", b"text/plain"), (b"content-length", b"3")]
        assert _headers_seen("POST", given) == given

    @pytest.mark.parametrize("length", [b"0", b"", b"x"])
    def test_no_body_gets_no_content_type(self, length: bytes) -> None:
        headers = [(b"content-length", length)]
        assert _headers_seen("POST", headers) == headers
        assert _headers_seen("POST", []) == []

    def test_a_get_is_left_alone(self) -> None:
        headers = [(b"content-length", b"5")]
        assert _headers_seen("GET", headers) == headers


def _prefects_api_app() -> Any:
    return inspect.unwrap(server.create_api_app)()


def _under(dependant: Any) -> Iterable[Any]:
    for sub in dependant.dependencies:
        yield sub
        yield from _under(sub)


def _dependants(app: Any) -> Iterable[Any]:
    for route in prefect_overheads._routes(app.router):
        yield from _under(route.dependant)


def _thread_run(dependants: Iterable[Any]) -> set[str]:
    """Prefect's dependencies among `dependants` that FastAPI would run in its thread pool."""
    return {
        sub.call.__qualname__
        for sub in dependants
        if sub.call.__module__.startswith("prefect.server.")
        and not _is_coroutine_callable(sub.call)
        and not inspect.isasyncgenfunction(sub.call)
    }


def _route_contexts(app: Any, build: Any) -> list[Any]:
    """Each route of each router `app` includes, as `build` (FastAPI's
    `_EffectiveRouteContext.from_api_route`) makes its route context, freshly."""
    return [
        build(original_route=route, include_context=branch.include_context)
        for branch in app.router.routes
        if isinstance(branch, fastapi_routing._IncludedRouter)
        for route in branch.original_router.routes
        if isinstance(route, fastapi_routing.APIRoute)
    ]


class TestLighterApiApp:
    def test_prefects_function_middleware_is_replaced_in_place(self) -> None:
        app = _prefects_api_app()
        before = [entry.cls for entry in app.user_middleware]
        assert replace_content_type_middleware(app)
        after = [entry.cls for entry in app.user_middleware]
        position = after.index(DefaultContentType)
        assert before[position] is BaseHTTPMiddleware
        del before[position], after[position]
        assert after == before  # the others, in their order
        middleware = app.user_middleware
        dispatches = [getattr(m.kwargs.get("dispatch"), "__name__", "") for m in middleware]
        assert PREFECT_CONTENT_TYPE_MIDDLEWARE not in dispatches
        assert not replace_content_type_middleware(app)  # nothing left to replace

    def test_synchronous_dependencies_run_on_the_event_loop(self) -> None:
        app = _prefects_api_app()
        assert "provide_database_interface" in _thread_run(_dependants(app))  # as shipped
        assert inline_dependencies(app) > 100
        assert _thread_run(_dependants(app)) == set()

    def test_included_routers_route_contexts_call_them_on_the_event_loop(self) -> None:
        """FastAPI serves an included router's route through a route context with a
        dependant of its own, built on the route's first request."""
        prefect_overheads.inline_included_route_dependencies()
        prefect_overheads.inline_included_route_dependencies()  # twice wraps once
        contexts = fastapi_routing._EffectiveRouteContext
        app = _prefects_api_app()
        as_shipped = _route_contexts(
            app, functools.partial(contexts.from_api_route.__wrapped__, contexts)
        )
        assert "provide_database_interface" in _thread_run(
            sub for context in as_shipped for sub in _under(context.dependant)
        )
        lighter = _route_contexts(app, contexts.from_api_route)
        assert len(lighter) > 100
        assert _thread_run(sub for context in lighter for sub in _under(context.dependant)) == set()

    def test_a_dependency_keeps_one_callable_across_routes(self) -> None:
        app = _prefects_api_app()
        inline_dependencies(app)
        name = "provide_database_interface"
        databases = {sub.call for sub in _dependants(app) if sub.call.__name__ == name}
        assert len(databases) == 1  # FastAPI's per-request cache keys on the callable

    def test_the_patched_factory_builds_the_lighter_app(self) -> None:
        prefect_overheads.lighter_api_app()
        prefect_overheads.lighter_api_app()  # applying it twice wraps once
        assert inspect.unwrap(server.create_api_app) is server.create_api_app.__wrapped__  # type: ignore[attr-defined]
        app = server.create_api_app()
        assert DefaultContentType in [entry.cls for entry in app.user_middleware]
        assert _thread_run(_dependants(app)) == set()


class TestPlainTimestamps:
    def test_a_pendulum_datetime_becomes_a_plain_one_at_the_same_instant(self) -> None:
        zurich = pendulum.datetime(2026, 7, 1, 9, 30, 15, 123456, tz="Europe/Zurich")
        plain = plain_datetime(zurich)
        assert type(plain) is datetime.datetime
        assert plain == zurich
        assert plain.utcoffset() == datetime.timedelta(hours=2)
        assert plain.microsecond == 123456

    def test_utc_and_plain_values(self) -> None:
        utc = pendulum.datetime(2026, 1, 2, 3, 4, 5, tz="UTC")
        assert plain_datetime(utc).tzinfo is datetime.UTC
        given = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
        assert plain_datetime(given) is given

    def test_postgres_gets_plain_datetimes_and_sqlite_prefects_conversion(self) -> None:
        prefect_overheads.plain_timestamps()
        value = pendulum.datetime(2026, 3, 29, 1, 30, tz="Europe/London")
        bound = Timestamp().process_bind_param(value, postgresql.dialect())
        assert type(bound) is datetime.datetime
        assert bound == value
        on_sqlite = Timestamp().process_bind_param(value, sqlite.dialect())
        assert on_sqlite is not None
        assert on_sqlite == value
        assert on_sqlite.utcoffset() == datetime.timedelta(0)
        assert Timestamp().process_bind_param(None, postgresql.dialect()) is None
        with pytest.raises(ValueError, match="timezone"):
            Timestamp().process_bind_param(datetime.datetime(2026, 1, 1), postgresql.dialect())


class _RecordingSession:
    """Stands in for the session: keeps the statement read_flow_run executes."""

    def __init__(self) -> None:
        self.statements: list[Any] = []

    async def execute(self, statement: Any) -> Any:
        self.statements.append(statement)

        class Result:
            def scalar(self) -> None:
                return None

        return Result()


class TestJoinedFlowRunReads:
    def _sql(self, *, for_update: bool) -> str:
        prefect_overheads.joined_flow_run_reads()
        session = _RecordingSession()
        asyncio.run(flow_runs.read_flow_run(session, uuid.uuid4(), for_update=for_update))  # type: ignore[arg-type]
        assert len(session.statements) == 1
        return str(session.statements[0].compile(dialect=postgresql.dialect()))

    def test_one_query_joins_the_state_its_artifact_the_queue_and_the_pool(self) -> None:
        sql = self._sql(for_update=False)
        for table in ("flow_run_state", "artifact", "work_queue", "work_pool"):
            assert f"LEFT OUTER JOIN {table}" in sql
        assert "FOR UPDATE" not in sql

    def test_for_update_locks_the_flow_run_alone(self) -> None:
        sql = self._sql(for_update=True)
        assert sql.rstrip().endswith("FOR UPDATE OF flow_run")


class _GettingSession:
    """Stands in for the session: keeps what read_deployment asks it to get."""

    def __init__(self) -> None:
        self.gets: list[tuple[Any, Any, list[Any]]] = []

    async def get(self, entity: Any, ident: Any, options: list[Any]) -> None:
        self.gets.append((entity, ident, options))


class TestJoinedDeploymentReads:
    def test_one_get_joins_the_queue_its_pool_and_the_concurrency_limit(self) -> None:
        prefect_overheads.joined_deployment_reads()
        session = _GettingSession()
        deployment_id = uuid.uuid4()
        asyncio.run(deployments.read_deployment(session, deployment_id))  # type: ignore[arg-type]
        [(entity, ident, options)] = session.gets
        assert ident == deployment_id
        sql = str(sa.select(entity).options(*options).compile(dialect=postgresql.dialect()))
        for table in ("work_queue", "work_pool", "concurrency_limit_v2"):
            assert f"LEFT OUTER JOIN {table}" in sql
        assert "deployment_schedule" not in sql  # a list: still its own query


class TestPublisherSettingsOnce:
    def test_read_once_on_the_redis_broker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(redis_messaging, "RedisMessagingPublisherSettings", _PUBLISHER_SETTINGS)
        with temporary_settings({PREFECT_MESSAGING_BROKER: "prefect_redis.messaging"}):
            prefect_overheads.publisher_settings_once()
        read = redis_messaging.RedisMessagingPublisherSettings
        assert read() is read()
        assert isinstance(read(), _PUBLISHER_SETTINGS)
        first = redis_messaging.Publisher("events", cache=None)  # type: ignore[arg-type]
        assert first.batch_size == read().batch_size

    def test_left_alone_on_another_broker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(redis_messaging, "RedisMessagingPublisherSettings", _PUBLISHER_SETTINGS)
        memory = "prefect.server.utilities.messaging.memory"
        with temporary_settings({PREFECT_MESSAGING_BROKER: memory}):
            prefect_overheads.publisher_settings_once()
        assert redis_messaging.RedisMessagingPublisherSettings is _PUBLISHER_SETTINGS


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(sa.text("select pg_backend_pid()"))).scalar_one())


def _terminate(pid: int) -> None:
    with psycopg.connect(services.admin_dsn(), autocommit=True) as connection:
        connection.execute("select pg_terminate_backend(%s)", (pid,))


class TestPingAfterIdle:
    """A pooled connection is pinged on checkout only after it sat idle, on real Postgres."""

    @staticmethod
    def _engine(idle_seconds: float) -> AsyncEngine:
        engine = create_async_engine(
            services.sqlalchemy_url("test", "asyncpg"), pool_pre_ping=True, pool_size=1
        )
        prefect_overheads.ping_after_idle(engine.sync_engine.pool, idle_seconds)
        return engine

    def test_a_dead_connection_idle_past_the_limit_is_replaced(self) -> None:
        async def scenario() -> tuple[int, int]:
            engine = self._engine(idle_seconds=0.05)
            try:
                first = await _backend_pid(engine)
                _terminate(first)
                await asyncio.sleep(0.2)
                return first, await _backend_pid(engine)
            finally:
                await engine.dispose()

        first, second = asyncio.run(scenario())
        assert second != first

    def test_a_connection_used_a_moment_ago_is_not_pinged(self) -> None:
        """Without the ping, a connection that died within the idle limit fails its first
        statement (that is the trade), and the pool hands out a new one afterwards."""

        async def scenario() -> tuple[int, int]:
            engine = self._engine(idle_seconds=60)
            try:
                first = await _backend_pid(engine)
                _terminate(first)
                await asyncio.sleep(0.2)
                with pytest.raises(DBAPIError):
                    await _backend_pid(engine)
                return first, await _backend_pid(engine)
            finally:
                await engine.dispose()

        first, second = asyncio.run(scenario())
        assert second != first

    def test_prefects_postgres_engine_pings_idle_connections_only(self) -> None:
        from prefect.server.database.configurations import AsyncPostgresConfiguration

        prefect_overheads.ping_idle_connections_only()
        url = services.sqlalchemy_url("test", "asyncpg")

        async def pool_pings_on_every_checkout() -> bool:
            engine = await AsyncPostgresConfiguration(connection_url=url).engine()
            try:
                return bool(engine.sync_engine.pool._pre_ping)
            finally:
                await engine.dispose()

        assert asyncio.run(pool_pings_on_every_checkout()) is False

    def test_the_worker_leaves_the_servers_database_modules_unimported(self) -> None:
        """The worker applies flowdesk's Prefect fixes too; importing the server's database
        configuration there cost it 19 MiB of resident memory."""
        code = (
            "import sys, flowdesk.worker; "
            "print('prefect.server.database.configurations' in sys.modules)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        assert result.stdout.strip() == "False"


class TestOnTheStacksPrefectServer:
    """The stack's Prefect server runs with every change above."""

    def test_a_json_body_without_a_content_type_is_accepted(self, stack: Stack) -> None:
        with httpx.Client(base_url=stack.prefect_api_url, timeout=30) as client:
            response = client.post("/flow_runs/filter", content=b'{"limit": 1}')
            assert response.status_code == 200, response.text
            assert isinstance(response.json(), list)

    def test_a_flow_run_reads_with_its_state_queue_and_pool(self, stack: Stack) -> None:
        with httpx.Client(base_url=stack.prefect_api_url, timeout=30) as client:
            deployments = client.post("/deployments/filter", json={"limit": 1}).json()
            assert deployments, "the stack has flowdesk's deployments"
            deployment = deployments[0]
            run = client.post(
                f"/deployments/{deployment['id']}/create_flow_run",
                json={
                    "state": {  # far ahead, so that no worker takes it
                        "type": "SCHEDULED",
                        "state_details": {"scheduled_time": "2100-01-01T00:00:00Z"},
                    },
                    "parameters": {},
                    "enforce_parameter_schema": False,
                },
            ).json()
            try:
                client.post(
                    f"/flow_runs/{run['id']}/set_state",
                    json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True},
                ).raise_for_status()
                read = client.get(f"/flow_runs/{run['id']}").json()
            finally:
                client.delete(f"/flow_runs/{run['id']}")
        assert read["state"]["type"] == "CANCELLED"
        assert read["deployment_id"] == deployment["id"]
        assert read["work_pool_name"] == deployment["work_pool_name"]
        assert read["work_queue_name"] == deployment["work_queue_name"]

    def test_a_deployment_reads_with_its_queue_and_pool(self, stack: Stack) -> None:
        with httpx.Client(base_url=stack.prefect_api_url, timeout=30) as client:
            listed = client.post("/deployments/filter", json={"limit": 5}).json()
            assert listed
            for deployment in listed:
                read = client.get(f"/deployments/{deployment['id']}").json()
                for field in ("work_pool_name", "work_queue_name", "global_concurrency_limit"):
                    assert read[field] == deployment[field], field
                assert read["work_pool_name"]
                assert read["schedules"] == deployment["schedules"]
