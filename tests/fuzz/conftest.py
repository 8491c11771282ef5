"""Fuzz tests reuse the real-server fixtures of the fault tests (served_db_url is the suite-wide one)."""

from tests.faults.conftest import server_env, servers

__all__ = ["server_env", "servers"]
