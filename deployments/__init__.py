"""Code that creates flowdesk's work pool, queues, automations and deployments in Prefect."""
