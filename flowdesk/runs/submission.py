"""Creating the Prefect flow run that executes a run row."""

from __future__ import annotations

from prefect.client.schemas.objects import FlowRun

from flowdesk.db.models import JobType, Run
from flowdesk.orchestration import PrefectGateway

# The deployment in prefect.yaml that runs each job type ad hoc.
ADHOC_DEPLOYMENTS = {JobType.SCREENER: "screener/adhoc", JobType.REPORT: "report/adhoc"}


async def create_flow_run(prefect: PrefectGateway, run: Run, owner: str) -> tuple[FlowRun, str]:
    """The flow run for `run` and its deployment; the run id is the idempotency key, so
    calling this again for the same run returns the same flow run."""
    # A schedule's manual trigger runs on the schedule's own deployment.
    deployment = run.prefect_deployment or ADHOC_DEPLOYMENTS[run.job_type]
    flow_run = await prefect.create_flow_run(
        deployment,
        parameters={"run_id": str(run.id)},
        idempotency_key=str(run.id),
        work_queue=run.priority,
        tags=["flowdesk", f"job:{run.job_type.value}", f"owner:{owner}"],
        name=f"{run.job_type.value}-{run.target or 'custom'}-{str(run.id)[:8]}",
    )
    return flow_run, deployment
