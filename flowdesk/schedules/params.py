"""What a schedule runs: its target and task params, validated when saved and resolved
into a full snapshot when each tick starts (the set's tickers at that moment)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowdesk.db.models import JobType
from flowdesk.errors import InvalidRequest
from flowdesk.reports.registry import parse_report_params
from flowdesk.runs.snapshots import report_snapshot, screener_snapshot
from flowdesk.screener_sets import ScreenerCatalog
from flowdesk.screening.criteria import FilterCriteria
from flowdesk.settings import Settings


class ScreenerTaskParams(BaseModel):
    """The task params of a screener schedule; its target is a screener set."""

    model_config = ConfigDict(extra="forbid")

    filter_criteria: FilterCriteria = Field(default_factory=FilterCriteria)
    preset: str | None = None
    top_n: int = Field(20, ge=1, le=500)


def _invalid(exc: ValidationError, prefix: str) -> InvalidRequest:
    fields = [
        {"field": ".".join([prefix, *map(str, e["loc"])]), "message": e["msg"]}
        for e in exc.errors()
    ]
    return InvalidRequest("; ".join(f"{f['field']}: {f['message']}" for f in fields), fields=fields)


def validate_task(
    job_type: JobType, target: str, task_params: dict[str, Any], catalog: ScreenerCatalog
) -> dict[str, Any]:
    """The task params normalised (defaults filled); 422 naming the field otherwise."""
    if job_type is JobType.SCREENER:
        if target not in catalog.sets:
            known = ", ".join(sorted(catalog.sets))
            raise InvalidRequest(
                f"unknown target {target!r} for a screener: use a screener set ({known})",
                field="target",
            )
        try:
            params = ScreenerTaskParams.model_validate(task_params)
        except ValidationError as exc:
            raise _invalid(exc, "task_params") from exc
        if params.preset is not None and params.preset not in catalog.presets:
            known = ", ".join(sorted(catalog.presets))
            raise InvalidRequest(
                f"unknown preset {params.preset!r}; known presets: {known}",
                field="task_params.preset",
            )
        return params.model_dump(exclude_none=True)
    try:
        report = parse_report_params(target, task_params)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, field="target") from exc
    except ValidationError as exc:
        raise _invalid(exc, "task_params") from exc
    return report.model_dump()


def resolve_snapshot(
    job_type: JobType,
    target: str,
    task_params: dict[str, Any],
    *,
    catalog: ScreenerCatalog,
    settings: Settings,
    submitted_by: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The snapshot of one execution of the schedule, resolved now."""
    params = validate_task(job_type, target, task_params, catalog)
    if job_type is JobType.SCREENER:
        return screener_snapshot(
            catalog=catalog,
            settings=settings,
            submitted_by=submitted_by,
            screener_set=target,
            tickers=None,
            preset=params.get("preset"),
            criteria=FilterCriteria.model_validate(params["filter_criteria"]),
            top_n=params["top_n"],
            at=at,
        )
    return report_snapshot(report_type=target, parameters=params, submitted_by=submitted_by, at=at)
