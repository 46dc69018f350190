"""GET /health (liveness) and GET /ready (every dependency reachable)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import StateDep
from api.state import AppState

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The API process is up."""
    return {"status": "ok"}


async def _check_database(state: AppState) -> str | None:
    try:
        with anyio.fail_after(3):
            async with state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return "database did not answer within 3 s"
    except Exception as exc:  # any driver error means "not ready"; the reason is reported
        return f"database unreachable: {type(exc).__name__}: {exc}"
    return None


async def _check_redis(state: AppState) -> str | None:
    dsn = state.settings.redis_dsn
    if dsn is None:
        return None
    from redis.asyncio import Redis

    client = Redis.from_url(dsn, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # connection refused, auth, timeout: all "not ready"
        return f"redis unreachable at {state.settings.redis_host}: {exc}"
    finally:
        await client.aclose()
    return None


@router.get(
    "/ready",
    responses={503: {"description": "A dependency is down; `checks` names it"}},
)
async def ready(state: StateDep) -> JSONResponse:
    """The database, the Prefect API and (when configured) Redis are reachable."""
    checks: dict[str, Any] = {
        "database": await _check_database(state),
        "prefect": await state.prefect.healthcheck(),
    }
    if state.settings.redis_dsn is not None:
        checks["redis"] = await _check_redis(state)
    state.catalog.get()  # picks up an edit nothing has read yet
    catalog_error = state.catalog.last_error
    down = {name: reason for name, reason in checks.items() if reason is not None}
    body: dict[str, Any] = {
        "checks": {name: reason or "ok" for name, reason in checks.items()},
        "screener_sets": catalog_error or "ok",
    }
    if down:
        detail = "not ready: " + "; ".join(f"{name}: {reason}" for name, reason in down.items())
        return JSONResponse({"error": "ServiceUnavailable", "detail": detail, **body}, 503)
    return JSONResponse({"status": "ready", **body})
