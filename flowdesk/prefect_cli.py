"""`python -m flowdesk.prefect_cli ARGS`: Prefect's command line (`prefect ARGS`) in a
process set up for a long-running Prefect server: flowdesk's fixes to Prefect applied
(`flowdesk.prefect_fixes`) before the server's app is built, and the garbage collector
tuned (`flowdesk.gc_tuning`). `flowdesk up` starts the Prefect server with it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from flowdesk import prefect_fixes
from flowdesk.gc_tuning import freeze_after_imports


def run(args: Sequence[str]) -> None:
    """`prefect ARGS` in this process, after the server's modules (its API and its
    services) are imported, fixed and frozen out of the collector."""
    freeze_after_imports("prefect.cli", "prefect.server.api.server")
    prefect_fixes.apply()
    from prefect.cli import app

    sys.argv = ["prefect", *args]
    app()


if __name__ == "__main__":
    run(sys.argv[1:])
