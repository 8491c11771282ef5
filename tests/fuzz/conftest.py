"""Fuzz tests reuse the real-server fixtures of the fault tests."""

from tests.faults.conftest import served_db_url, server_env, servers

__all__ = ["served_db_url", "server_env", "servers"]
