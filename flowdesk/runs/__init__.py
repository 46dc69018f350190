"""Runs: their rows, snapshots and lifecycle."""
