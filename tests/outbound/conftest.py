"""Fixtures: a real HTTP receiver on loopback, and real `guard serve` processes on a database of the suite's kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RULES_DIR
from tests.faults.conftest import servers
from tests.outbound.receiver import Receiver

__all__ = ["servers"]  # the fault tests' fixture: started GuardServers, stopped after the test


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
