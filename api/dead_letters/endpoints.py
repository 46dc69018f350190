"""GET /api/dead-letters and POST /api/dead-letters/{run_id}/requeue (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.dead_letters import service
from api.dead_letters.schemas import DeadLetterPage
from api.deps import AdminUser, SessionDep, StateDep
from api.errors import ADMIN_RESPONSES
from api.runs.endpoints import accepted
from api.runs.schemas import RunAccepted

router = APIRouter(prefix="/api/dead-letters", tags=["dead letters"])


@router.get("", response_model=DeadLetterPage, responses=ADMIN_RESPONSES)
async def list_dead_letters(
    state: StateDep,
    session: SessionDep,
    admin: AdminUser,
    requeued: Annotated[
        bool | None, Query(description="true: only requeued ones; false: only waiting ones.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeadLetterPage:
    """Runs that failed on every retry of a dependency, newest first."""
    return await service.list_dead_letters(
        state, session, requeued=requeued, limit=limit, offset=offset
    )


@router.post(
    "/{run_id}/requeue",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses=ADMIN_RESPONSES,
)
async def requeue(
    run_id: uuid.UUID, state: StateDep, session: SessionDep, admin: AdminUser, response: Response
) -> RunAccepted:
    """Run a dead letter again from its snapshot; asking twice returns the same new run."""
    run = await service.requeue(state, session, admin, run_id)
    return accepted(run, response)
