"""The known report types and the parameter model each one accepts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowdesk.biotech.companies import get_companies
from flowdesk.errors import InvalidRequest


class SystemStatusParams(BaseModel):
    """Parameters of the ``system_status`` report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_details: bool = Field(True, description="Add the recent failures table.")
    window_hours: int = Field(24, ge=1, le=24 * 90, description="Look-back window, hours.")
    failures_limit: int = Field(10, ge=0, le=100, description="Most recent failures listed.")


class BiotechWeeklyParams(BaseModel):
    """Parameters of the ``biotech_weekly`` report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(7, ge=1, le=90, description="Look-back window before the run, days.")
    companies: list[str] | None = Field(
        None,
        min_length=1,
        description="Company ids to cover (companies.yaml); default: every active company.",
    )
    top_n: int = Field(10, ge=1, le=50, description="Most material events listed.")
    alerts_limit: int = Field(
        25, ge=0, le=200, description="Most recent critical and warning alerts listed."
    )

    @field_validator("companies")
    @classmethod
    def _known_companies(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        registry = get_companies()
        ids = list(dict.fromkeys(v.strip().upper() for v in value))  # order kept, repeats once
        unknown = [i for i in ids if i not in registry]
        if unknown:
            known = ", ".join(c.id for c in registry.all())
            raise ValueError(
                f"unknown company ids: {', '.join(unknown)} (not in companies.yaml; "
                f"known ids: {known})"
            )
        return ids


# Adding a report type is one entry here plus its flow; the API validates against this map.
REPORT_TYPES: dict[str, type[BaseModel]] = {
    "system_status": SystemStatusParams,
    "biotech_weekly": BiotechWeeklyParams,
}


def parse_report_params(report_type: str, parameters: Mapping[str, Any]) -> BaseModel:
    """Validate ``parameters`` against the model of ``report_type``; pydantic errors propagate."""
    model = REPORT_TYPES.get(report_type)
    if model is None:
        known = ", ".join(sorted(REPORT_TYPES))
        raise InvalidRequest(
            f"unknown report_type {report_type!r}; known report types: {known}",
            field="report_type",
            known=sorted(REPORT_TYPES),
        )
    return model.model_validate(dict(parameters))
