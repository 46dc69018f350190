"""flowdesk's Prefect flows: thin wrappers that claim a run, call the domain, record the outcome."""
