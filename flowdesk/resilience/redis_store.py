"""Breaker state in Redis, one hash per dependency, so every worker sees the same breaker.

Each dependency is a hash ``<prefix>:breaker:<dependency>`` holding ``state``, ``failures``,
``opened_at`` and ``reopens_at``, plus a trial slot ``<prefix>:breaker-trial:<dependency>``
(``SET NX PX``: one holder across all workers, gone after ``trial_ttl``). Every step of the
state machine is one Lua script, so two workers recording failures at once cannot lose a
count, and two asking to trial at once cannot both win. Scripts read the clock with Redis
``TIME``: cool-downs are measured on one clock however skewed the workers' clocks are.

`redis.asyncio` clients belong to the event loop that made them, and Prefect tasks run on
more than one loop, so the store keeps one client per running loop.

An unreachable Redis raises `BreakerStoreUnavailable`, which `FallbackBreakerStore`
(`fallback.py`) turns into the per-process store.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from flowdesk.resilience.breaker import (
    Admission,
    BreakerSnapshot,
    BreakerState,
    BreakerStoreUnavailable,
    Transition,
)

T = TypeVar("T")

# Shared head of every script: the clock, the hash's fields, and how to answer with them.
_READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'reopens_at')
local state = h[1] or 'closed'
local failures = tonumber(h[2]) or 0
local function answer(verdict, before)
  local f = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'reopens_at')
  return {verdict, before, f[1] or 'closed', f[2] or '0', f[3] or '', f[4] or ''}
end
"""

# ARGV[1]: trial slot TTL in ms.
_ADMIT = (
    _READ
    + """
if state == 'closed' then return answer('allow', state) end
if state == 'open' and now < (tonumber(h[4]) or 0) then return answer('deny', state) end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  return answer('trial', state)
end
return answer('deny', state)
"""
)

# ARGV[1]: '1' when this was the trial call.
_SUCCESS = (
    _READ
    + """
if state == 'half_open' and ARGV[1] == '1' or state == 'closed' and h[2] ~= '0' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'opened_at', '', 'reopens_at', '')
  redis.call('DEL', KEYS[2])
end
return answer('ok', state)
"""
)

# ARGV[1]: '1' when this was the trial call; ARGV[2]: threshold; ARGV[3]: cool-down (s).
_FAILURE = (
    _READ
    + """
failures = failures + 1
if state == 'half_open' and ARGV[1] == '1' or state == 'closed' and failures >= tonumber(ARGV[2])
then
  local reopens = now + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'state', 'open', 'failures', failures,
    'opened_at', string.format('%.6f', now), 'reopens_at', string.format('%.6f', reopens))
  redis.call('DEL', KEYS[2])
else
  redis.call('HSET', KEYS[1], 'failures', failures)
end
return answer('ok', state)
"""
)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _snapshot(
    dependency: str, state: Any, failures: Any, opened: Any, reopens: Any
) -> BreakerSnapshot:
    return BreakerSnapshot(
        dependency,
        BreakerState(_text(state or "closed")),
        int(_text(failures or "0")),
        float(_text(opened)) if opened else None,
        float(_text(reopens)) if reopens else None,
    )


class _Connection:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self.admit: AsyncScript = client.register_script(_ADMIT)
        self.success: AsyncScript = client.register_script(_SUCCESS)
        self.failure: AsyncScript = client.register_script(_FAILURE)


class RedisBreakerStore:
    """Breakers in Redis, shared by every worker that uses the same DSN and prefix."""

    def __init__(self, dsn: str, *, prefix: str = "flowdesk", timeout: float = 1.0) -> None:
        self.dsn = dsn
        self.prefix = prefix
        # 1 s and no client-side retries: the breaker's store must never be the slow part.
        self._options: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        self._lock = threading.Lock()
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection]
        self._connections = weakref.WeakKeyDictionary()

    def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        with self._lock:
            connection = self._connections.get(loop)
            if connection is None:
                connection = _Connection(Redis.from_url(self.dsn, **self._options))
                self._connections[loop] = connection
            return connection

    def _keys(self, dependency: str) -> list[str]:
        return [f"{self.prefix}:breaker:{dependency}", f"{self.prefix}:breaker-trial:{dependency}"]

    async def _run(
        self, pick: Callable[[_Connection], AsyncScript], dependency: str, args: Sequence[Any]
    ) -> tuple[str, BreakerState, BreakerSnapshot]:
        script = pick(self._connection())
        reply = await _reachable(script(keys=self._keys(dependency), args=list(args)))
        verdict, before, *fields = reply
        return _text(verdict), BreakerState(_text(before)), _snapshot(dependency, *fields)

    async def admit(self, dependency: str, *, trial_ttl: float) -> Admission:
        """One atomic step: allow, deny, or hand out the single trial slot."""
        ttl_ms = max(1, int(trial_ttl * 1000))
        verdict, _, snap = await self._run(lambda c: c.admit, dependency, [ttl_ms])
        return Admission(verdict != "deny", verdict == "trial", snap)

    async def record_success(self, dependency: str, *, trial: bool) -> Transition:
        """Reset the count, or close a half-open breaker when this was its trial."""
        _, before, snap = await self._run(lambda c: c.success, dependency, [int(trial)])
        return Transition(before, snap)

    async def record_failure(
        self, dependency: str, *, trial: bool, threshold: int, cooldown: float
    ) -> Transition:
        """Count a failure; open at the threshold or when the trial failed."""
        args = [int(trial), threshold, cooldown]
        _, before, snap = await self._run(lambda c: c.failure, dependency, args)
        return Transition(before, snap)

    async def release_trial(self, dependency: str) -> None:
        """Free the trial slot without a verdict."""
        await _reachable(self._connection().client.delete(self._keys(dependency)[1]))

    async def snapshot(self, dependency: str) -> BreakerSnapshot:
        """The dependency's breaker (closed with no failures if Redis has no record)."""
        client = self._connection().client
        fields = ("state", "failures", "opened_at", "reopens_at")
        values = await _reachable(client.hmget(self._keys(dependency)[0], fields))
        return _snapshot(dependency, *values)

    async def snapshots(self) -> dict[str, BreakerSnapshot]:
        """Every breaker under this prefix."""
        client = self._connection().client
        head = f"{self.prefix}:breaker:"

        async def scan() -> list[str]:
            return [_text(key) async for key in client.scan_iter(match=f"{head}*", count=200)]

        names = sorted(key.removeprefix(head) for key in await _reachable(scan()))
        return {name: await self.snapshot(name) for name in names}

    async def aclose(self) -> None:
        """Close the running loop's connection (other loops' close when their loop goes)."""
        with self._lock:
            connection = self._connections.pop(asyncio.get_running_loop(), None)
        if connection is not None:
            await connection.client.aclose()


async def _reachable(pending: Awaitable[T]) -> T:
    try:
        return await pending
    except _UNREACHABLE as exc:
        raise BreakerStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
