"""`python -m flowdesk.prefect_cli ARGS`: Prefect's command line (`prefect ARGS`) in a
process whose garbage collector is set up for a long-running server
(`flowdesk.gc_tuning`). `flowdesk up` starts the Prefect server with it.
"""

from __future__ import annotations

import sys

from flowdesk.gc_tuning import freeze_after_imports


def main() -> None:
    # The server's API and its services, imported before anything is frozen.
    freeze_after_imports("prefect.cli", "prefect.server.api.server")
    from prefect.cli import app

    sys.argv = ["prefect", *sys.argv[1:]]
    app()


if __name__ == "__main__":
    main()
