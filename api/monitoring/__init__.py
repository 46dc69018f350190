"""Monitoring: Prometheus metrics and detailed statistics."""
