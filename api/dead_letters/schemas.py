"""Response bodies for dead letters."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from api.runs.schemas import RunSummary


class RequeueOut(BaseModel):
    run_id: uuid.UUID
    status: str
    url: str


class DeadLetterOut(BaseModel):
    """A run that failed on every retry of a dependency, and its requeue if it has one."""

    run: RunSummary
    requeued_as: RequeueOut | None = Field(
        description="The run that requeued this one from its snapshot; null until requeued."
    )


class DeadLetterPage(BaseModel):
    """One page of dead letters, newest first."""

    items: list[DeadLetterOut]
    total: int
    limit: int
    offset: int
