"""`python -m flowdesk.prefect_services`: Prefect's `prefect server services start`, the
background services of a Prefect server whose API runs with `--no-services`, after
flowdesk's fixes to Prefect (`flowdesk.prefect_fixes`) are applied in this process too.

The API process gets the fixes by loading Prefect's collections (`flowdesk.worker`) at
start-up; Prefect's services command loads none, and its scheduler reads every scheduled
deployment, whose cron time zones would be validated against the time-zone database on
disk each time. The command runs through `flowdesk.prefect_cli`, collector tuning and
all.
"""

from __future__ import annotations

from flowdesk import prefect_cli, prefect_fixes


def main() -> None:
    prefect_fixes.apply()
    prefect_cli.run(["server", "services", "start"])


if __name__ == "__main__":
    main()
