"""Runs: submission, status, cancellation and reconciliation with Prefect."""
