"""Alert channels: their configuration, their Prefect notification blocks, delivery."""
