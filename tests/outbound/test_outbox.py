"""The outbox: a message exists exactly when the transaction that enqueued it committed."""

from __future__ import annotations

import json

import pytest

from guard.outbound.outbox import enqueue
from guard.storage.database import Database


def _messages(db: Database) -> list[tuple[str, str, str]]:
    with db.raw_reads() as sql:
        return [tuple(row) for row in sql.rows("SELECT message_id, type, body FROM outbox ORDER BY id")]


def test_a_committed_change_leaves_its_message_with_a_standard_webhooks_body(db: Database):
    with db.raw_transaction() as sql:
        message_id = enqueue(sql, "care.requested", {"customer_id": "c1", "route": "care"})
    [(stored_id, kind, body)] = _messages(db)
    assert stored_id == message_id and message_id.startswith("msg_") and kind == "care.requested"
    parsed = json.loads(body)
    assert parsed["type"] == "care.requested" and parsed["data"] == {"customer_id": "c1", "route": "care"}
    assert parsed["timestamp"].endswith("Z") or parsed["timestamp"].endswith("+00:00")


def test_a_rolled_back_change_leaves_no_message(db: Database):
    with pytest.raises(RuntimeError), db.raw_transaction() as sql:
        enqueue(sql, "care.requested", {"customer_id": "c1"})
        raise RuntimeError("the change failed")
    assert _messages(db) == []
