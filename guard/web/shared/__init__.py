"""guard/web/shared."""
