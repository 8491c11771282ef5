"""guard/server."""
