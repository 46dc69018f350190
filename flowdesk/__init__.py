"""flowdesk: a research desk's job scheduler on Prefect 3."""

__version__ = "0.1.0"
