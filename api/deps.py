"""Request dependencies: the app state, one session per request, and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.state import AppState
from flowdesk.accounts.service import Principal, authenticate
from flowdesk.db.engine import session_scope
from flowdesk.errors import Forbidden, Unauthorized


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop on
    # every request for a dictionary lookup.
    state: AppState = request.app.state.flowdesk
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back on error."""
    async with session_scope(state.sessions) as session:
        yield session


# scope="function": commit before the response is sent, so a 2xx means it is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API key from `flowdesk users create`.")


async def get_principal(
    state: StateDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    cached = state.principals.get(credentials.credentials)
    if cached is not None:
        return cached
    principal = await authenticate(session, credentials.credentials)
    state.principals.put(credentials.credentials, principal)
    # End the key lookup's transaction, so its connection goes back to the pool instead
    # of staying checked out while the route waits on Prefect (the session opens a new
    # one if the route uses it). Held, 30 slow submissions exhausted the pool.
    await session.commit()
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def get_admin(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise Forbidden(f"admins only: {principal.name} is not an admin")
    return principal


AdminUser = Annotated[Principal, Depends(get_admin)]
