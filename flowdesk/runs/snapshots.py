"""Resolving a request into the full snapshot a run executes: what, with which data and code.

A snapshot is self-sufficient: re-running it later gives the same work even if the
screener sets, presets or defaults have changed since.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flowdesk import __version__
from flowdesk.db.types import utcnow
from flowdesk.errors import InvalidRequest
from flowdesk.screener_sets import ScreenerCatalog
from flowdesk.screening.criteria import FilterCriteria
from flowdesk.settings import Settings

SNAPSHOT_VERSION = 1


@lru_cache
def code_version() -> str:
    """The package version, with the git commit when running from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}" if sha else __version__


def snapshot_base(job_type: str, submitted_by: str, at: datetime | None) -> dict[str, Any]:
    """The fields every snapshot starts with: version, job type, when, who, which code."""
    return {
        "snapshot_version": SNAPSHOT_VERSION,
        "job_type": job_type,
        "resolved_at": (at or utcnow()).isoformat(),
        "submitted_by": submitted_by,
        "code_version": code_version(),
    }


def screener_snapshot(
    *,
    catalog: ScreenerCatalog,
    settings: Settings,
    submitted_by: str,
    screener_set: str | None,
    tickers: list[str] | None,
    preset: str | None,
    criteria: FilterCriteria,
    top_n: int,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The set expanded to its tickers now, the preset merged under explicit criteria."""
    if screener_set is not None:
        if screener_set not in catalog.sets:
            known = ", ".join(sorted(catalog.sets))
            raise InvalidRequest(
                f"unknown screener_set {screener_set!r}; known sets: {known}", field="screener_set"
            )
        universe = list(catalog.sets[screener_set].tickers)
    else:
        assert tickers is not None
        universe = list(dict.fromkeys(tickers))  # de-duplicated, order kept
    merged: dict[str, Any] = {}
    if preset is not None:
        if preset not in catalog.presets:
            known = ", ".join(sorted(catalog.presets))
            raise InvalidRequest(
                f"unknown preset {preset!r}; known presets: {known}", field="preset"
            )
        merged.update(catalog.presets[preset].criteria.given())
    merged.update(criteria.given())
    file_path = settings.market_data_path if settings.market_data_provider == "file" else None
    try:
        resolved = FilterCriteria.model_validate(merged)
    except ValidationError as exc:  # explicit criteria may contradict the preset's
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InvalidRequest(
            f"filter_criteria contradict preset {preset!r}: {problems}", field="filter_criteria"
        ) from exc
    return {
        **snapshot_base("screener", submitted_by, at),
        "screener_set": screener_set,
        "preset": preset,
        "tickers": universe,
        "filter_criteria": resolved.given(),
        "top_n": top_n,
        "config_version": catalog.version,
        "market_data": {
            "provider": settings.market_data_provider,
            "path": str(file_path) if file_path else None,
        },
    }


def report_snapshot(
    *, report_type: str, parameters: dict[str, Any], submitted_by: str, at: datetime | None = None
) -> dict[str, Any]:
    """The report type with every parameter, defaults filled in."""
    return {
        **snapshot_base("report", submitted_by, at),
        "report_type": report_type,
        "parameters": parameters,
    }
