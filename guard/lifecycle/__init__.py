"""Rule lifecycle: immutable stored versions, activation and rollback seen by every process, backtests."""
