"""Vendor webhook sources: configured by an admin, each with its kind and its (encrypted) signing secret."""
