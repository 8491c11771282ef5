"""Upgrading to per-key idempotency: a decision recorded before belongs to the key that asked for it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from guard.core.errors import IdempotencyConflict
from guard.decisions.service import decide
from guard.policy.ruleset import load_directory
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from tests.conftest import RULES_DIR

BEFORE = "0003"  # the revision before idempotency keys were scoped
AT = datetime(2026, 3, 1, tzinfo=UTC)
BODY = {"customer_id": "c1", "channel": "email", "purpose": "service", "send_at": "2026-03-02T12:00:00Z",
        "idempotency_key": "old-k"}


def test_keys_recorded_before_the_upgrade_are_scoped_to_the_key_that_sent_them(cli_db_url: str):
    upgrade(cli_db_url, BEFORE)
    db = Database(cli_db_url)
    try:
        with db.transaction() as session:
            run = session.connection().execute
            for number, name in enumerate(("crm", "shop", "shop")):
                run(text("INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) "
                         "VALUES (:name, 'gk_', :hash, 'decide', :at)"),
                    {"name": name, "hash": f"{number:064d}", "at": AT})
            crm, shop, _ = [row[0] for row in run(text("SELECT id FROM api_keys ORDER BY id"))]
            for did, key, name in (("d-1", "old-k", "shop"), ("d-2", None, "crm"), ("d-3", "gone-k", "deleted")):
                run(text("INSERT INTO decisions (decision_id, customer_id, channel, purpose, send_at, outcome, "
                         "rules_version, evaluated_at, idempotency_key, request_hash, request, facts, api_key_name) "
                         "VALUES (:did, 'c1', 'email', 'service', :at, 'allow', '1', :at, :key, :hash, '{}', "
                         "'{}', :name)"),
                    {"did": did, "at": AT, "key": key, "hash": "0" * 64, "name": name})
        upgrade(cli_db_url)
        with db.sessions() as session:
            scopes = dict(session.connection().execute(
                text("SELECT decision_id, idempotency_scope FROM decisions")).all())
        # The oldest key of the name; none for unkeyed decisions or names no key has.
        assert scopes == {"d-1": shop, "d-2": 0, "d-3": 0}
        evaluator = load_directory(RULES_DIR)
        try:
            with pytest.raises(IdempotencyConflict) as conflict:  # the same key from "shop": its old decision
                decide(db, evaluator, BODY, "shop", key_id=shop)
            assert conflict.value.details["decision_id"] == "d-1"
            assert decide(db, evaluator, BODY, "crm", key_id=crm)["decision_id"] != "d-1"  # another key's own
        finally:
            evaluator.close()
    finally:
        db.dispose()
