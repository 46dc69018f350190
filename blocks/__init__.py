"""flowdesk's Prefect blocks, registered from configuration at set-up."""
