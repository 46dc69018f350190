"""The body of a report submission."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.runs.schemas import Priority


class ReportRunRequest(BaseModel):
    """A report type and its parameters (see `GET /api/reports/types`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"report_type": "system_status", "parameters": {"include_details": True}}]
        },
    )

    report_type: str = Field(max_length=64, examples=["system_status"])
    parameters: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = "default"


class ReportType(BaseModel):
    name: str
    parameters: dict[str, Any] = Field(description="JSON schema of the parameters.")
