"""Reports: the known report types, their parameters, and how each one is built and rendered."""
