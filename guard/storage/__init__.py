"""guard/storage."""
