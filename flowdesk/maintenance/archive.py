"""Writing rows to the archive before they leave the database: gzip'd JSON lines."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import DeclarativeBase


def row_dict(row: DeclarativeBase) -> dict[str, Any]:
    """Every column of a mapped row, JSON-ready (UUIDs and datetimes as strings)."""
    mapper = inspect(type(row))
    return {column.key: _plain(getattr(row, column.key)) for column in mapper.column_attrs}


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Append rows to a gzip'd JSON-lines file (a new gzip member per call); the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with gzip.open(path, "at", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")
            count += 1
    return count


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    """Every row of an archive file (what a restore would read)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value"):  # str enums
        return value.value
    return value
