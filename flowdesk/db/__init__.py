"""The snapshot store: SQLAlchemy models, engines and migrations."""
