"""`guard` command groups beyond the core ones in guard.cli: audit, customers, rule lifecycle, campaigns."""
