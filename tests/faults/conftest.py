"""Fault-test fixtures: a database of the suite's kind for real servers, and the server factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RULES_DIR
from tests.faults.real import GuardServer


@pytest.fixture
def server_env(served_db_url: str) -> dict[str, str]:
    """GUARD_* settings of a served Guard."""
    return {"GUARD_DATABASE_URL": served_db_url, "GUARD_RULES_DIR": str(RULES_DIR), "GUARD_DB_TIMEOUT": "3"}


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., GuardServer]]:
    """servers(env, workers=2, name=...) → a started GuardServer, stopped at the end of the test."""
    started: list[GuardServer] = []

    def start(env: dict[str, str], workers: int = 2, name: str = "serve", port: int | None = None) -> GuardServer:
        server = GuardServer(env, tmp_path, workers=workers, port=port, name=name).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
