"""The core ring: configuration, the error hierarchy (stable codes), time, ids, the vocabulary of channels,
purposes, outcomes and fact fields, the planned message, shared schema helpers, strict JSON, bounded caches.

Imports nothing from guard: every other ring may import it.
"""
