"""Engines and sessions for the snapshot store, on Postgres (psycopg 3) or SQLite."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from flowdesk.settings import get_settings

# A flow run holds one connection at a time; hooks and the flow body run one after another.
LOOP_POOL_SIZE = 2


def async_url(url: str) -> str:
    """The async-driver form of a database URL (psycopg 3 or aiosqlite)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def sync_url(url: str) -> str:
    """The sync-driver form of a database URL, for Alembic."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a flow writes; busy_timeout waits out a writer
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, *, pooled: bool = True, pool_size: int | None = None) -> AsyncEngine:
    """An async engine; `pooled=False` for processes that may run several event loops."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not pooled:
        kwargs = {"poolclass": NullPool}
    elif pool_size is not None:
        kwargs = {"pool_size": pool_size, "max_overflow": pool_size}
    elif url.startswith("postgresql"):
        # No ping per checkout: it was one of four round trips of a cached-key GET. A
        # connection a Postgres restart broke fails its request with a 503 and makes the
        # pool replace every connection older than that failure.
        # Connections beyond pool_size are closed when returned; 20 keeps a busy API
        # from opening and closing one per request.
        kwargs = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 5}
    engine = create_async_engine(async_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


@lru_cache
def get_engine(pooled: bool = True) -> AsyncEngine:
    """The process's engine for the configured database."""
    return make_engine(get_settings().database_url, pooled=pooled)


# Event loops that live for many flow runs (a warm executor's), with their pooled engine
# once they have used it.
_long_lived: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine | None] = (
    weakref.WeakKeyDictionary()
)


def loop_engine() -> AsyncEngine:
    """The engine for code that may run on any event loop (flows and their hooks).

    Async connections belong to the loop that opened them. On a loop registered with
    `keep_connections` the engine is pooled and reused by every run on that loop (three
    connections a run saved in a warm executor: about 10 ms of CPU here and there); on
    any other loop, which may close with its run, each unit of work connects anew.
    """
    loop = asyncio.get_running_loop()
    if loop not in _long_lived:
        return get_engine(pooled=False)
    engine = _long_lived[loop]
    if engine is None:
        engine = make_engine(get_settings().database_url, pool_size=LOOP_POOL_SIZE)
        _long_lived[loop] = engine
    return engine


def keep_connections(loop: asyncio.AbstractEventLoop) -> None:
    """Let `loop` have a pooled engine of its own (see `loop_engine`)."""
    _long_lived.setdefault(loop, None)


async def release_connections() -> None:
    """Close the pooled connections of the running loop (before it closes)."""
    engine = _long_lived.pop(asyncio.get_running_loop(), None)
    if engine is not None:
        await engine.dispose()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(
    bind: AsyncEngine | async_sessionmaker[AsyncSession] | None = None,
) -> AsyncIterator[AsyncSession]:
    """A unit of work: commits on success, rolls back on error."""
    factory = (
        bind if isinstance(bind, async_sessionmaker) else session_factory(bind or get_engine())
    )
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
