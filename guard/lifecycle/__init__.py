"""Rule lifecycle: immutable stored versions, activation and rollback seen by every process, backtests and
their background jobs, drafts edited in the console.

May import guard.decisions, guard.sources and every ring below.
"""
