"""Enqueue a message in the caller's transaction: committed with the change that causes it, or not at all."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from guard.core.timeutil import iso, utcnow
from guard.core.vocabulary import WEBHOOK_EVENTS
from guard.storage.sql import Sql

_INSERT = "INSERT INTO outbox (message_id, type, body, created_at) VALUES (?, ?, ?, ?)"


def message_body(event_type: str, data: dict[str, Any], at: datetime) -> str:
    """The Standard Webhooks body: `{"type", "timestamp", "data"}` as compact JSON."""
    return json.dumps({"type": event_type, "timestamp": iso(at), "data": data}, ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True)


def enqueue(sql: Sql, event_type: str, data: dict[str, Any], at: datetime | None = None) -> str:
    """Write one message for `event_type` subscribers; returns its `webhook-id` (msg_...)."""
    assert event_type in WEBHOOK_EVENTS, f"{event_type} is not in vocabulary.WEBHOOK_EVENTS"
    at = at or utcnow()
    message_id = f"msg_{uuid.uuid4().hex}"
    sql.run(_INSERT, (message_id, event_type, message_body(event_type, data, at), sql.time(at)))
    return message_id
