"""Run artifacts on disk, under `artifacts/{run_id}/`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flowdesk.settings import get_settings

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")

MEDIA_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".md": "text/markdown",
    ".html": "text/html",
    ".txt": "text/plain",
}


def run_dir(run_id: str) -> Path:
    return get_settings().artifacts_dir / run_id


def write_artifact(run_id: str, name: str, content: str) -> dict[str, Any]:
    """Write one artifact file and describe it for the run's record."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid artifact name {name!r}")
    directory = run_dir(run_id)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    # Write then rename, so a reader never sees half a file.
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    return {
        "name": name,
        "path": str(path),
        "media_type": MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        "size_bytes": path.stat().st_size,
    }


def artifact_path(run_id: str, name: str) -> Path | None:
    """The file of a run's artifact, if the name is valid and the file exists."""
    if not _NAME_RE.match(name):
        return None
    path = run_dir(run_id) / name
    return path if path.is_file() else None
