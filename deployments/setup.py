"""Idempotent Prefect set-up: the work pool, its priority queues, and zombie detection.

Run by `flowdesk up` before the worker starts, and by `flowdesk prefect setup`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectAlreadyExists

from flowdesk.worker import FlowdeskWorker

logger = logging.getLogger(__name__)

# Lower number first when capacity is short; every queue is still served.
QUEUES: dict[str, int] = {"high": 1, "default": 2, "low": 3}
ZOMBIE_AUTOMATION = "flowdesk: crash zombie flow runs"
# Flow runs heartbeat every 30 s (set on the worker); three missed beats mean the process
# is gone, so the run is marked Crashed instead of staying Running for ever.
HEARTBEAT_SECONDS = 30
ZOMBIE_AFTER = timedelta(seconds=HEARTBEAT_SECONDS * 3)


def base_job_template() -> dict[str, Any]:
    """The flowdesk worker's template: warm isolation unless a deployment asks otherwise."""
    return FlowdeskWorker.get_default_base_job_template()


async def ensure_work_pool(client: PrefectClient, name: str) -> None:
    """The flowdesk work pool and its high/default/low queues at priorities 1/2/3."""
    template = base_job_template()
    try:
        await client.create_work_pool(
            WorkPoolCreate(name=name, type=FlowdeskWorker.type, base_job_template=template)
        )
        logger.info("created work pool %s", name)
    except ObjectAlreadyExists:
        pool = await client.read_work_pool(name)
        if pool.type != FlowdeskWorker.type:
            # Prefect cannot change a pool's type; flowdesk's worker serves it all the same.
            logger.warning(
                "work pool %s has type %r, not %r: `flowdesk up` still starts the flowdesk "
                "worker on it; delete the pool (prefect work-pool delete %s) to have it "
                "recreated with its own type",
                name,
                pool.type,
                FlowdeskWorker.type,
                name,
            )
        if pool.base_job_template != template:
            await client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
    existing = {q.name: q for q in await client.read_work_queues(work_pool_name=name)}
    for queue, priority in QUEUES.items():
        if queue not in existing:
            await client.create_work_queue(name=queue, work_pool_name=name, priority=priority)
    # Set priorities in order, since Prefect keeps them distinct within a pool.
    for queue, priority in QUEUES.items():
        current = {q.name: q for q in await client.read_work_queues(work_pool_name=name)}
        if current[queue].priority != priority:
            await client.update_work_queue(current[queue].id, priority=priority)


async def ensure_zombie_automation(client: PrefectClient) -> None:
    """An automation that marks a flow run Crashed when its heartbeats stop."""
    automation = AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description="Flow runs whose process died without reporting (a killed worker).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
                # Handed back by a stopping worker: no process, no heartbeat, until
                # another worker takes it.
                "prefect.flow-run.AwaitingRetry",
            },
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=ZOMBIE_AFTER,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {int(ZOMBIE_AFTER.total_seconds())} s: "
                "the flow run's process is gone.",
            )
        ],
    )
    existing = await client.read_automations_by_name(ZOMBIE_AUTOMATION)
    if not existing:
        await client.create_automation(automation)
    elif existing[0].trigger != automation.trigger:
        await client.update_automation(existing[0].id, automation)


def deploy_all(project_dir: Path, env: dict[str, str] | None = None) -> None:
    """Apply every deployment of prefect.yaml with Prefect's own CLI."""
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=project_dir,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`prefect deploy --all` failed (exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
