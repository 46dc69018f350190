"""flowdesk.gc_tuning, in a fresh interpreter (the test process's collector is left alone)."""

from __future__ import annotations

import json
import subprocess
import sys

from flowdesk.gc_tuning import THRESHOLDS

PROBE = """
import gc, json, sys
from flowdesk.gc_tuning import freeze_after_imports
before = gc.get_freeze_count()
freeze_after_imports("json.decoder", "email.parser")
print(json.dumps({
    "before": before,
    "frozen": gc.get_freeze_count(),
    "threshold": gc.get_threshold(),
    "imported": ["email.parser" in sys.modules, "json.decoder" in sys.modules],
}))
"""


def test_imports_the_modules_freezes_what_is_alive_and_collects_less_often() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    result = json.loads(out)
    assert result["before"] == 0
    assert result["frozen"] > 1000, result  # the interpreter's and the modules' objects
    assert tuple(result["threshold"]) == THRESHOLDS
    assert result["imported"] == [True, True]


def test_the_prefect_command_line_runs_through_it() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "flowdesk.prefect_cli", "version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Version:" in out.stdout
