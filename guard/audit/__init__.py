"""The tamper-evident audit log: every record chained by hash to the one before it."""
