"""guard/ledger."""
