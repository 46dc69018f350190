"""`python -m flowdesk.prefect_cli ARGS`: Prefect's command line (`prefect ARGS`) in a
process whose garbage collector is set up for a long-running server
(`flowdesk.gc_tuning`). `flowdesk up` starts the Prefect server with it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from flowdesk.gc_tuning import freeze_after_imports


def run(args: Sequence[str]) -> None:
    """`prefect ARGS` in this process, after the server's modules (its API and its
    services) are imported and frozen out of the collector."""
    freeze_after_imports("prefect.cli", "prefect.server.api.server")
    from prefect.cli import app

    sys.argv = ["prefect", *args]
    app()


if __name__ == "__main__":
    run(sys.argv[1:])
