"""flowdesk's Prefect worker type, `flowdesk`: flow runs in warm executors.

Registered with Prefect as a collection (the `prefect.collections` entry point in
pyproject.toml), so `prefect worker start --pool flowdesk --type flowdesk` finds it and
the Prefect UI lists the pool type. Importing this package registers the worker class
and applies flowdesk's fixes to Prefect (flowdesk.prefect_fixes): the Prefect server and
the worker both import it.
"""

from flowdesk import prefect_fixes
from flowdesk.worker.worker import FlowdeskWorker

prefect_fixes.apply()

__all__ = ["FlowdeskWorker"]
