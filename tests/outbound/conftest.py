"""Fixtures: a real HTTP receiver on loopback, and real `guard serve` processes on a database of the suite's kind;
helpers that drive the delivery worker in-process (subscribe, emit, run rounds, read the deliveries back)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from guard.core.config import DEV_AUDIT_KEY
from guard.outbound.deliveries import list_deliveries
from guard.outbound.delivery import Policy
from guard.outbound.outbox import enqueue
from guard.outbound.subscriptions import add_subscription
from guard.outbound.worker import Deliverer
from guard.storage.database import Database
from tests.conftest import RULES_DIR
from tests.faults.conftest import servers
from tests.outbound.receiver import Receiver

# `servers`: the fault tests' fixture, started GuardServers stopped after the test.
__all__ = ["FAST", "KEY", "deliveries", "emit", "rounds", "servers", "subscribe"]

KEY = DEV_AUDIT_KEY
FAST = Policy(timeout=2, backoff=0.05, retry_for=60)


def subscribe(db: Database, url: str, *events: str, secret: str | None = None) -> dict:
    """Add a subscription (the secret made by Guard unless given); its description with the secret."""
    return add_subscription(db, KEY, {"url": url, "events": list(events), "secret": secret}, "test")


def emit(db: Database, kind: str = "care.requested", **data: object) -> str:
    """Enqueue one message in a transaction of its own; its `webhook-id`."""
    with db.raw_transaction() as sql:
        return enqueue(sql, kind, data or {"customer_id": "c1"})


def rounds(deliverer: Deliverer, until: float = 10.0, stop: Callable[[], bool] = lambda: False) -> None:
    """Run the worker's rounds in this thread until `stop()` or `until` seconds have passed."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline and not stop():
        if not deliverer.round():
            time.sleep(0.02)


def deliveries(db: Database, **filters: object) -> list[dict]:
    """The deliveries as admins list them (newest first)."""
    with db.sessions() as session:
        return list_deliveries(session, filters)


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
