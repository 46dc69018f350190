"""Creating the Prefect flow run that executes a run row."""

from __future__ import annotations

import asyncio
import logging
import uuid

from prefect.client.schemas.objects import FlowRun
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowdesk.db.models import JobType, Run, RunStatus
from flowdesk.errors import ServiceUnavailable
from flowdesk.orchestration import PrefectGateway
from flowdesk.runs import repository

logger = logging.getLogger(__name__)

# The deployment in prefect.yaml that runs each job type ad hoc.
ADHOC_DEPLOYMENTS = {
    JobType.SCREENER: "screener/adhoc",
    JobType.REPORT: "report/adhoc",
    JobType.ANALYSIS: "analysis/adhoc",
    JobType.MAINTENANCE: "maintenance/adhoc",
}


async def create_flow_run(
    prefect: PrefectGateway, run: Run, owner: str, requested_by: str | None = None
) -> tuple[FlowRun, str]:
    """The flow run for `run` and its deployment; the run id is the idempotency key, so
    calling this again for the same run returns the same flow run.

    Its tags say whose run it is, who asked for it when that is someone else (an admin's
    rerun or trigger), and which run or schedule it came from, for filtering in Prefect.
    """
    # A schedule's manual trigger runs on the schedule's own deployment.
    deployment = run.prefect_deployment or ADHOC_DEPLOYMENTS[run.job_type]
    flow_run = await prefect.create_flow_run(
        deployment,
        parameters={"run_id": str(run.id)},
        idempotency_key=str(run.id),
        work_queue=run.priority,
        tags=run_tags(run, owner, requested_by),
        name=f"{run.job_type.value}-{run.target or 'custom'}-{str(run.id)[:8]}",
    )
    return flow_run, deployment


def run_tags(run: Run, owner: str, requested_by: str | None = None) -> list[str]:
    """The Prefect tags of a run's flow run."""
    tags = ["flowdesk", f"job:{run.job_type.value}", f"owner:{owner}"]
    if requested_by is not None and requested_by != owner:
        tags.append(f"requested-by:{requested_by}")
    if run.rerun_of is not None:
        tags.append(f"rerun-of:{run.rerun_of}")
    if run.schedule_id is not None:
        tags.append(f"schedule:{run.schedule_id}")
    return tags


class Submitter:
    """Creates the flow runs of stored runs for the API, after the request has answered.

    Prefect's `create_flow_run_from_deployment` is the slow part of a submission (tens of
    milliseconds of Prefect server CPU); on 2 cores Prefect creates some 20-30 a second.
    Awaited inside the request, it made the API as slow as Prefect under load. So once
    Prefect has accepted a flow run from this process, a submission is answered as soon as
    its row is committed, and its flow run is created right after, at most `concurrency`
    at a time, the id recorded on the row (`GET /api/runs/{id}` shows it).

    Until Prefect has accepted one, and again after a creation failed, the flow run is
    created within the request as before: the caller gets the 503 and no run is stored.
    A background creation that fails leaves its run pending without a flow run; the API's
    reconciler creates it again once Prefect answers (`reconcile.resubmit_lost_runs`). The
    run id is the idempotency key, so creating the same flow run twice returns the first.
    """

    def __init__(
        self,
        prefect: PrefectGateway,
        sessions: async_sessionmaker[AsyncSession],
        concurrency: int = 4,
    ) -> None:
        self._prefect = prefect
        self._sessions = sessions
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        # Prefect accepted the last flow run this process asked for.
        self._accepting = False

    @property
    def backlog(self) -> int:
        """Runs stored whose flow run is not created yet."""
        return len(self._tasks)

    async def submit(self, run: Run, owner: str, requested_by: str | None = None) -> Run:
        """`run` with its flow run, or queued for one; ServiceUnavailable only when created
        within the call (Prefect is not known to answer)."""
        if not self._accepting:
            flow_run, deployment = await create_flow_run(self._prefect, run, owner, requested_by)
            self._accepting = True
            await self._record(run, flow_run.id, deployment)
            return run
        task = asyncio.get_running_loop().create_task(
            self._create_later(run, owner, requested_by), name=f"submit run {run.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def _create_later(self, run: Run, owner: str, requested_by: str | None) -> None:
        try:
            async with self._slots:
                async with self._sessions() as session:
                    status = await repository.status_of(session, run.id)
                if status is not RunStatus.PENDING:
                    return  # cancelled while it waited: Prefect never hears of it
                flow_run, deployment = await create_flow_run(
                    self._prefect, run, owner, requested_by
                )
                await self._record(run, flow_run.id, deployment)
        except ServiceUnavailable as exc:
            self._accepting = False
            logger.warning(
                "run %s stays pending: %s; the reconciler submits it again", run.id, exc.detail
            )
        except Exception:
            logger.exception("creating the flow run of run %s failed; it stays pending", run.id)

    async def _record(self, run: Run, flow_run_id: uuid.UUID, deployment: str) -> None:
        async with self._sessions() as session:
            status = await repository.set_flow_run(session, run.id, flow_run_id, deployment)
            await session.commit()
        run.prefect_flow_run_id = flow_run_id
        run.prefect_deployment = deployment
        if status is RunStatus.CANCELLED:
            # Cancelled before its flow run existed: the cancel found nothing to stop in
            # Prefect, so the flow run is cancelled here, before a worker takes it.
            await self._prefect.cancel(flow_run_id)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for queued creations, then cancel the rest (their
        runs stay pending for the reconciler)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
