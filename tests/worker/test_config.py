"""Which deployments a warm run may load straight from a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowdesk.worker.config import local_code_directory

CHDIR = "prefect.deployments.steps.set_working_directory"


@pytest.mark.parametrize(
    ("pull_steps", "expected"),
    [
        ([{CHDIR: {"directory": "/srv/flowdesk"}}], Path("/srv/flowdesk")),
        (
            [{"prefect.deployments.steps.pull.set_working_directory": {"directory": "/srv/a"}}],
            Path("/srv/a"),
        ),
        (None, None),
        ([], None),
        ([{CHDIR: {"directory": "{{ clone.directory }}"}}], None),
        ([{CHDIR: {"directory": "$HOME/flowdesk"}}], None),
        ([{"prefect.deployments.steps.git_clone": {"repository": "https://x/y.git"}}], None),
        (
            [
                {"prefect.deployments.steps.git_clone": {"repository": "https://x/y.git"}},
                {CHDIR: {"directory": "/srv/flowdesk"}},
            ],
            None,
        ),
    ],
)
def test_only_a_fixed_set_working_directory_is_local_code(
    pull_steps: list[dict[str, Any]] | None, expected: Path | None
) -> None:
    assert local_code_directory(pull_steps) == expected
