"""The desk's upkeep: data cleanup, database optimisation, report archival."""
