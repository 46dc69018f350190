"""The known report types and the parameter model each one accepts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowdesk.errors import InvalidRequest


class SystemStatusParams(BaseModel):
    """Parameters of the ``system_status`` report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_details: bool = Field(True, description="Add the recent failures table.")
    window_hours: int = Field(24, ge=1, le=24 * 90, description="Look-back window, hours.")
    failures_limit: int = Field(10, ge=0, le=100, description="Most recent failures listed.")


# Adding a report type is one entry here plus its flow; the API validates against this map.
REPORT_TYPES: dict[str, type[BaseModel]] = {
    "system_status": SystemStatusParams,
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
