"""Every query on the schedules table. Functions flush; the caller's unit of work commits."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.db.models import JobType, Schedule


async def add(session: AsyncSession, schedule: Schedule) -> Schedule:
    session.add(schedule)
    await session.flush()
    return schedule


async def get(session: AsyncSession, schedule_id: uuid.UUID) -> Schedule | None:
    return await session.get(Schedule, schedule_id, populate_existing=True)


async def get_by_name(session: AsyncSession, owner_id: uuid.UUID, name: str) -> Schedule | None:
    result = await session.execute(
        select(Schedule).where(Schedule.owner_id == owner_id, Schedule.name == name)
    )
    return result.scalar_one_or_none()


async def count_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(Schedule).where(Schedule.owner_id == owner_id)
    )
    return int(result.scalar_one())


async def page(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID | None,
    job_type: JobType | None,
    enabled: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[Schedule], int]:
    """One page of schedules, newest first, and how many match in all."""
    conditions = []
    if owner_id is not None:
        conditions.append(Schedule.owner_id == owner_id)
    if job_type is not None:
        conditions.append(Schedule.job_type == job_type)
    if enabled is not None:
        conditions.append(Schedule.enabled == enabled)
    total = await session.execute(select(func.count()).select_from(Schedule).where(*conditions))
    rows = await session.execute(
        select(Schedule)
        .where(*conditions)
        .order_by(Schedule.created_at.desc(), Schedule.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total.scalar_one())


async def delete(session: AsyncSession, schedule: Schedule) -> None:
    await session.delete(schedule)
    await session.flush()
