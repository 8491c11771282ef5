"""What the hold tests share: an API client, events posted through the API, holds and outbox rows read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guard.app import Guard
from guard.auth.keys import create_key
from guard.storage.database import Database
from guard.web.factory import create_app
from tests.conftest import event, reads_caught_up

__all__ = ["Clock", "api_client", "at", "hold_rows", "outbox", "post_event", "survey"]

NOW = datetime.now(UTC).replace(microsecond=0)


class Clock:
    """A settable now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def later(self, **delta: float) -> None:
        self.now = datetime.now(UTC) + timedelta(**delta)


def at(days: float = 0, hours: float = 0) -> str:
    """An ISO time relative to the test's start."""
    return (NOW + timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


def survey(customer: str, hold: Any = True, **more: Any) -> dict[str, Any]:
    """A satisfaction survey request that accepts holds (or not, with hold=None)."""
    body: dict[str, Any] = {"customer_id": customer, "channel": "email", "purpose": "survey", **more}
    if hold is not None:
        body["hold"] = hold
    return body


def post_event(client: Any, customer: str, type_: str, occurred_at: str, **data: Any) -> None:
    """Store an event through the API."""
    response = client.post("/v1/events", json=event(customer, type_, occurred_at, **data))
    assert response.status_code in (200, 201), response.get_json()


def hold_rows(db: Database) -> list[dict[str, Any]]:
    """Every hold row, oldest first."""
    with db.raw_reads() as sql:
        rows = sql.rows("SELECT hold_id, status, release_at, resolution_decision_id, waiting_case_id FROM holds "
                        "ORDER BY id")
    return [{"hold_id": r[0], "status": r[1], "release_at": sql.read_time(r[2]), "resolution": r[3],
             "case_id": r[4]} for r in rows]


def outbox(db: Database, type_: str | None = None) -> list[dict[str, Any]]:
    """Outbox bodies (optionally of one type), oldest first."""
    with db.raw_reads() as sql:
        rows = sql.rows("SELECT body FROM outbox ORDER BY id")
    bodies = [json.loads(r[0]) for r in rows]
    return [b for b in bodies if type_ is None or b["type"] == type_]


def api_client(guard: Guard) -> Any:
    """A test client of Guard's app sending a key with scopes decide, read and events."""
    with guard.db.transaction() as session:
        _, token = create_key(session, "tool", ["decide", "read", "events"])
    app = reads_caught_up(create_app(guard), guard.db)  # reviewers' lists are built behind the writer
    app.testing = True
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def client(guard: Guard) -> Any:
    """The API as a sending tool sees it (decide, read, events)."""
    return api_client(guard)


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves."""
    return Clock()
