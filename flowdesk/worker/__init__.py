"""flowdesk's Prefect worker type, `flowdesk`: flow runs forked from a warm process.

Registered with Prefect as a collection (the `prefect.collections` entry point in
pyproject.toml), so `prefect worker start --pool flowdesk --type flowdesk` finds it and
the Prefect UI lists the pool type. Importing this package registers the worker class.
"""

from flowdesk.worker.worker import FlowdeskWorker

__all__ = ["FlowdeskWorker"]
