"""What the decision tests share: an API client holding a `decide` + `read` key, and a count of decisions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from guard.app import Guard
from guard.auth.keys import create_key
from guard.storage.database import Database
from guard.storage.tables.decisions import Decision
from guard.web.factory import create_app


def api_client(guard: Guard) -> Any:
    """A test client of Guard's app that sends a fresh key with scopes decide and read."""
    with guard.db.transaction() as session:
        _, token = create_key(session, "tool", ["decide", "read"])
    app = create_app(guard)
    app.testing = True
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def decision_count(db: Database) -> int:
    """How many decisions are recorded."""
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Decision)) or 0)
