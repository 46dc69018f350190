"""Creating the Prefect flow run that executes a run row."""

from __future__ import annotations

from prefect.client.schemas.objects import FlowRun

from flowdesk.db.models import JobType, Run
from flowdesk.orchestration import PrefectGateway

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
