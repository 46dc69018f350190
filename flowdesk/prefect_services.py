"""`python -m flowdesk.prefect_services`: Prefect's `prefect server services start`, the
background services of a Prefect server whose API runs with `--no-services`, through
`flowdesk.prefect_cli`: flowdesk's fixes to Prefect (`flowdesk.prefect_fixes`) applied in
this process too, and the collector tuned.

Prefect's services command loads no collections (which is how the API process once got
the fixes), and its scheduler reads every scheduled deployment, whose cron time zones
would be validated against the time-zone database on disk each time.
"""

from __future__ import annotations

from flowdesk import prefect_cli


def main() -> None:
    prefect_cli.run(["server", "services", "start"])


if __name__ == "__main__":
    main()
