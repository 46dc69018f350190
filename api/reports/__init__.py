"""Ad-hoc report runs."""
