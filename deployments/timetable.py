"""The desk's timetable after `prefect deploy`: crons from settings, paused if disabled.

prefect.yaml carries the seed's times (daily analysis 06:00, weekly report Monday 08:00,
UTC). Two of them are settings, so they are applied here, to the slugged schedules that
`prefect deploy` created; `FLOWDESK_TIMETABLE_ENABLED=false` pauses every timetable
schedule (the test suite does, so an hourly quick scan never lands mid-test).
"""

from __future__ import annotations

import logging

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.schedules import CronSchedule

from flowdesk.settings import Settings

logger = logging.getLogger(__name__)

DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}


def configured_crons(settings: Settings) -> dict[str, str]:
    """The crons that settings decide, by schedule slug."""
    return {
        "daily-analysis": f"0 {settings.daily_analysis_hour} * * *",
        "weekly-report": f"0 {settings.weekly_report_hour} * * {DAYS[settings.weekly_report_day]}",
    }


async def apply_timetable(client: PrefectClient, settings: Settings) -> dict[str, str]:
    """Set each timetable schedule's cron and active flag; the cron of every slug."""
    crons = configured_crons(settings)
    applied: dict[str, str] = {}
    deployments = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["timetable"]))
    )
    for deployment in deployments:
        for schedule in deployment.schedules:
            if schedule.slug is None:
                continue
            current = schedule.schedule
            cron = crons.get(schedule.slug)
            wanted = CronSchedule(cron=cron, timezone="UTC") if cron else None
            changed_cron = wanted is not None and (
                not isinstance(current, CronSchedule) or current.cron != wanted.cron
            )
            if changed_cron or schedule.active != settings.timetable_enabled:
                await client.update_deployment_schedule(
                    deployment.id,
                    schedule.id,
                    active=settings.timetable_enabled,
                    schedule=wanted if changed_cron else None,
                )
            applied[schedule.slug] = cron or str(getattr(current, "cron", current))
    logger.info("timetable %s: %s", "active" if settings.timetable_enabled else "paused", applied)
    return applied
