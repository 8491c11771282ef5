"""An acknowledged decision is durable: the connections that serve requests commit with a synced log
(SQLite synchronous=FULL, PostgreSQL synchronous_commit=on), unless the operator chose otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from guard.app import Guard
from guard.auth.keys import create_key
from guard.core.config import Settings
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from guard.web.factory import create_app
from tests.conftest import RULES_DIR

SQLITE_LEVELS = {1: "NORMAL", 2: "FULL"}


def _served(guard: Guard) -> set[str]:
    """The durability setting on the connections the requests just used (the pool hands back the newest)."""
    if guard.db.engine.dialect.name == "sqlite":
        query, name = "PRAGMA synchronous", lambda value: SQLITE_LEVELS[value]
    else:
        query, name = "SHOW synchronous_commit", str
    seen = set()
    with guard.db.raw_reads() as sql:
        seen.add(name(sql.first(query)[0]))
    with guard.db.transaction() as session:
        seen.add(name(session.execute(text(query)).scalar()))
    return seen


def _decide_through_the_app(environ: dict[str, str]) -> Guard:
    """The app as guard/server/wsgi.py builds it (settings from GUARD_* variables), after serving a decision."""
    app = create_app(settings=Settings.from_env(environ))
    guard: Guard = app.extensions["guard"]
    guard.seed_rules()
    with guard.db.transaction() as session:
        _, token = create_key(session, "durability", ["decide"])
    answer = app.test_client().post("/v1/decisions", headers={"Authorization": f"Bearer {token}"},
                                    json={"customer_id": "d-1", "channel": "email", "purpose": "transactional"})
    assert answer.status_code == 200, answer.get_json()
    return guard


def test_served_connections_commit_durably_by_default(committed_db: Database):
    guard = _decide_through_the_app({"GUARD_DATABASE_URL": committed_db.url, "GUARD_RULES_DIR": str(RULES_DIR)})
    try:
        assert _served(guard) == ({"FULL"} if committed_db.url.startswith("sqlite") else {"on"})
    finally:
        guard.db.dispose()


def test_sqlite_synchronous_can_be_relaxed_to_normal(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'normal.db'}"
    upgrade(url)
    guard = _decide_through_the_app({"GUARD_DATABASE_URL": url, "GUARD_RULES_DIR": str(RULES_DIR),
                                     "GUARD_SQLITE_SYNCHRONOUS": "normal"})
    try:
        assert _served(guard) == {"NORMAL"}
    finally:
        guard.db.dispose()


def test_an_unknown_synchronous_level_is_refused_at_start():
    with pytest.raises(SystemExit, match="GUARD_SQLITE_SYNCHRONOUS must be FULL or NORMAL"):
        Settings.from_env({"GUARD_SQLITE_SYNCHRONOUS": "OFF"})
