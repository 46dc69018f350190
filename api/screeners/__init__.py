"""Ad-hoc screener runs."""
