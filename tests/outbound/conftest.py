"""Fixtures: a real HTTP receiver on loopback, and real `guard serve` processes on a database of the suite's kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RULES_DIR
from tests.faults.real import GuardServer
from tests.outbound.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 200 to everything (change `receiver.answer` to script failures)."""
    started = Receiver().start()
    yield started
    started.stop()




@pytest.fixture
def server_env(served_db_url: str) -> dict[str, str]:
    """GUARD_* settings of a served Guard delivering webhooks fast (first retry after 0.2 s)."""
    return {"GUARD_DATABASE_URL": served_db_url, "GUARD_RULES_DIR": str(RULES_DIR), "GUARD_DB_TIMEOUT": "3",
            "GUARD_WEBHOOK_POLL_INTERVAL": "0.1", "GUARD_WEBHOOK_BACKOFF": "0.2", "GUARD_WEBHOOK_TIMEOUT": "2"}


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
