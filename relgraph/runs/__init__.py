"""Runs: one task end to end (task tables, members fitted, blend, scores, report, run folder)."""
