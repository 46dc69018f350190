"""Prefect deployments of schedules that no longer exist (a schedule's deployment is made
before its row is committed, so a failed commit leaves one behind)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.responses import DeploymentResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import Schedule

# A deployment younger than this may belong to a schedule whose row is being committed.
GRACE = timedelta(hours=1)
PAGE = 200


async def remove_orphan_deployments(
    client: PrefectClient, session: AsyncSession, now: datetime
) -> list[str]:
    """Delete schedule deployments with no schedule row; the names of those deleted."""
    ours = DeploymentFilter(tags=DeploymentFilterTags(all_=["flowdesk", "schedule"]))
    deployments: list[DeploymentResponse] = []
    while True:
        page = await client.read_deployments(
            deployment_filter=ours, limit=PAGE, offset=len(deployments)
        )
        deployments.extend(page)
        if len(page) < PAGE:
            break
    known = set((await session.execute(select(Schedule.prefect_deployment_id))).scalars())
    removed: list[str] = []
    for deployment in deployments:
        created = deployment.created
        if deployment.id in known or created is None or now - created < GRACE:
            continue
        await client.delete_deployment(deployment.id)
        removed.append(deployment.name)
    return removed
