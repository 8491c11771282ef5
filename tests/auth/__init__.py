"""Tests of guard.auth."""
