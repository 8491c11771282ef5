"""Enqueue a message in the caller's transaction: committed with the change that causes it, or not at all."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from guard.core.timeutil import iso, utcnow
from guard.storage.sql import Sql

# Every type of message Guard sends: what a subscription may ask for (a misspelt type would receive nothing).
CARE_REQUESTED = "care.requested"
HOLD_RELEASED = "hold.released"
HOLD_ENDED = "hold.ended"
HOLD_EXPIRED = "hold.expired"
EVENT_TYPES = (CARE_REQUESTED, HOLD_RELEASED, HOLD_ENDED, HOLD_EXPIRED)

_INSERT = "INSERT INTO outbox (message_id, type, body, created_at) VALUES (?, ?, ?, ?)"


def message_body(event_type: str, data: dict[str, Any], at: datetime) -> str:
    """The Standard Webhooks body: `{"type", "timestamp", "data"}` as compact JSON."""
    return json.dumps({"type": event_type, "timestamp": iso(at), "data": data}, ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True)


def enqueue(sql: Sql, event_type: str, data: dict[str, Any], at: datetime | None = None) -> str:
    """Write one message for `event_type` subscribers; returns its `webhook-id` (msg_...)."""
    assert event_type in EVENT_TYPES, f"{event_type} is not in outbox.EVENT_TYPES"
    at = at or utcnow()
    message_id = f"msg_{uuid.uuid4().hex}"
    sql.run(_INSERT, (message_id, event_type, message_body(event_type, data, at), sql.time(at)))
    return message_id
