"""The screener sets users can run."""
