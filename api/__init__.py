"""flowdesk's REST API: a thin FastAPI facade over Prefect and the snapshot store."""
