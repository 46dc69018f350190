"""`python -m flowdesk.prefect_services`: Prefect's `prefect server services start`, the
background services of a Prefect server whose API runs with `--no-services`, after
flowdesk's fixes to Prefect (`flowdesk.prefect_fixes`) are applied in this process too.

The API process gets the fixes by loading Prefect's collections (`flowdesk.worker`) at
start-up; Prefect's services command loads none, and its scheduler reads every scheduled
deployment, whose cron time zones would be validated against the time-zone database on
disk each time. Its garbage collector is set up as in `flowdesk.prefect_cli`.
"""

from __future__ import annotations

import sys

from flowdesk import prefect_fixes
from flowdesk.gc_tuning import freeze_after_imports


def main() -> None:
    prefect_fixes.apply()
    freeze_after_imports("prefect.cli", "prefect.server.api.server")
    from prefect.cli import app

    sys.argv = ["prefect", "server", "services", "start"]
    app()


if __name__ == "__main__":
    main()
