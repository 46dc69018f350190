"""Stock screening: filter criteria, vectorised filtering and the documented score."""
