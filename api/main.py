"""The FastAPI application: `uvicorn api.main:app`, or `flowdesk api`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from api import errors, health
from api.dead_letters.endpoints import router as dead_letters_router
from api.desk.endpoints import router as desk_router
from api.maintenance.endpoints import router as maintenance_router
from api.monitoring.endpoints import router as monitoring_router
from api.reports.endpoints import router as reports_router
from api.runs.endpoints import router as runs_router
from api.schedules.endpoints import router as schedules_router
from api.screener_sets.endpoints import router as screener_sets_router
from api.screeners.endpoints import router as screeners_router
from api.state import AppState
from flowdesk import __version__, gc_tuning, prefect_fixes
from flowdesk.accounts.cache import PrincipalCache
from flowdesk.db.engine import make_engine, session_factory
from flowdesk.errors import ServiceUnavailable
from flowdesk.orchestration import PrefectGateway, open_gateway
from flowdesk.runs.reconcile import reconcile_open_runs, resubmit_lost_runs
from flowdesk.runs.submission import Submitter
from flowdesk.screener_sets import CatalogStore
from flowdesk.settings import Settings, get_settings

logger = logging.getLogger("flowdesk.api")

# A pending run with no flow run this old was lost between insert and Prefect call
# (the API's Prefect deadline is 10 s by default), so it is submitted again.
LOST_AFTER = timedelta(seconds=60)
# On shutdown, how long flow runs of accepted submissions may still be created.
SUBMIT_DRAIN_SECONDS = 5.0


async def _reconcile_forever(state: AppState) -> None:
    while True:
        await asyncio.sleep(state.settings.reconcile_interval_seconds)
        try:
            async with state.sessions() as session:
                repaired = await reconcile_open_runs(
                    session,
                    state.prefect,
                    older_than=timedelta(seconds=state.settings.reconcile_after_seconds),
                )
                resubmitted = await resubmit_lost_runs(
                    session,
                    state.prefect,
                    older_than=max(
                        LOST_AFTER, timedelta(seconds=state.settings.prefect_timeout_seconds * 3)
                    ),
                )
                await session.commit()
            if repaired or resubmitted:
                logger.info("reconciled %d runs, resubmitted %d", repaired, resubmitted)
        except ServiceUnavailable as exc:
            logger.warning("reconciliation skipped: %s", exc.detail)
        except Exception:
            logger.exception("reconciliation pass failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    prefect_fixes.apply()  # e.g. the API validates each schedule's cron

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        catalog = CatalogStore(settings.screener_sets_path)
        catalog.get()  # an invalid file stops start-up here, naming the problem
        engine = make_engine(settings.database_url)
        async with open_gateway(settings.prefect_api, settings.prefect_timeout_seconds) as gw:
            sessions = session_factory(engine)
            state = AppState(
                settings=settings,
                engine=engine,
                sessions=sessions,
                prefect=gw,
                catalog=catalog,
                principals=PrincipalCache(settings.auth_cache_seconds),
                submitter=Submitter(gw, sessions),
            )
            app.state.flowdesk = state
            # Everything imported and built so far lives as long as the process: moved out
            # of the collector's view, a full collection no longer walks Prefect's and
            # SQLAlchemy's module objects (tens of ms that landed on some request).
            gc_tuning.freeze()
            reconciler = asyncio.create_task(_reconcile_forever(state))
            try:
                yield
            finally:
                reconciler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reconciler
                # Runs still waiting for their flow run are pending rows: the next start's
                # reconciler submits whatever this does not finish.
                await state.submitter.drain(SUBMIT_DRAIN_SECONDS)
                await engine.dispose()

    app = FastAPI(
        title="flowdesk",
        version=__version__,
        summary="Screeners, reports and scheduled jobs for a research desk, run on Prefect 3.",
        description=(
            "Every endpoint but `/health`, `/ready` and `/metrics` needs "
            "`Authorization: Bearer <key>` (keys come from `flowdesk users create NAME`). "
            "Runs execute as Prefect flow "
            "runs; each response links to the run in the Prefect UI. Errors are JSON: "
            '`{"error": "RunNotFound", "detail": "…"}`.'
        ),
        lifespan=lifespan,
    )
    errors.install(app)
    for router in ROUTERS:
        _summaries_from_docstrings(router)
        app.include_router(router)
    return app


ROUTERS = (
    health.router,
    monitoring_router,
    screener_sets_router,
    screeners_router,
    reports_router,
    schedules_router,
    runs_router,
    dead_letters_router,
    maintenance_router,
    desk_router,
)


def _summaries_from_docstrings(router: APIRouter) -> None:
    """Each route's one-line docstring becomes its OpenAPI summary."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.summary is None and route.description:
            route.summary = route.description.strip().splitlines()[0].rstrip(".")


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` builds the app on first access, not at import time.
    if name == "app":
        return create_app()
    raise AttributeError(name)


__all__ = ["PrefectGateway", "create_app"]
