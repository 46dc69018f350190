"""GET /api/screener-sets and GET /api/screener-sets/{name}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, StateDep
from api.errors import ERROR_RESPONSES
from flowdesk.errors import ScreenerSetNotFound

router = APIRouter(prefix="/api/screener-sets", tags=["screener sets"])


class ScreenerSetSummary(BaseModel):
    name: str
    display_name: str
    description: str
    categories: list[str]
    ticker_count: int


class ScreenerSetDetail(ScreenerSetSummary):
    tickers: list[str]


class PresetOut(BaseModel):
    name: str
    description: str
    criteria: dict[str, Any]


@router.get("", response_model=list[ScreenerSetSummary], responses=ERROR_RESPONSES)
async def list_screener_sets(state: StateDep, user: CurrentUser) -> list[ScreenerSetSummary]:
    """The screener sets, without their tickers."""
    catalog = state.catalog.get()
    return [
        ScreenerSetSummary(
            name=s.name,
            display_name=s.display_name,
            description=s.description,
            categories=s.categories,
            ticker_count=s.ticker_count,
        )
        for s in catalog.sets.values()
    ]


@router.get("/presets", response_model=list[PresetOut], responses=ERROR_RESPONSES)
async def list_presets(state: StateDep, user: CurrentUser) -> list[PresetOut]:
    """The named filter presets a screener run may use."""
    presets = state.catalog.get().presets.values()
    return [
        PresetOut(name=p.name, description=p.description, criteria=p.criteria.given())
        for p in presets
    ]


@router.get("/{name}", response_model=ScreenerSetDetail, responses=ERROR_RESPONSES)
async def get_screener_set(name: str, state: StateDep, user: CurrentUser) -> ScreenerSetDetail:
    """One screener set with its tickers."""
    catalog = state.catalog.get()
    found = catalog.sets.get(name)
    if found is None:
        raise ScreenerSetNotFound(
            f"no screener set {name!r}; known sets: {', '.join(sorted(catalog.sets))}"
        )
    return ScreenerSetDetail(
        name=found.name,
        display_name=found.display_name,
        description=found.description,
        categories=found.categories,
        ticker_count=found.ticker_count,
        tickers=found.tickers,
    )
