"""What the API process holds for its lifetime: the engine, the Prefect gateway, the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flowdesk.accounts.cache import PrincipalCache
from flowdesk.orchestration import PrefectGateway
from flowdesk.runs.submission import Submitter
from flowdesk.screener_sets import CatalogStore
from flowdesk.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    prefect: PrefectGateway
    catalog: CatalogStore
    principals: PrincipalCache
    submitter: Submitter
