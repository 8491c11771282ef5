"""guard/core."""
