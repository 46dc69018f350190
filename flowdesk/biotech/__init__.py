"""The biotech desk: companies, their news, and the analysis that turns news into insights."""
