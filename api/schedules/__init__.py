"""Per-user cron schedules, each one a Prefect deployment of its job's flow."""
