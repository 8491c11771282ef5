"""Decisions: evaluating a planned send against the rules, combining outcomes, and the audit record."""
