"""Blueprints: each view validates its input, makes one use-case call and returns its result as JSON."""
