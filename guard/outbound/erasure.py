"""Erasing a customer from the outbox: the messages about them keep their shape, not the person."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from guard.storage.sql import Sql

Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


def scrub_messages(sql: Sql, customer_id: str, rewrite: Rewrite) -> int:
    """Rewrite the data of every message whose `data.customer_id` is the customer (delivered or not); returns
    how many. Erasure is rare: the bodies are searched as text, and each candidate is checked parsed."""
    needle = json.dumps(customer_id, ensure_ascii=False)  # as message_body writes it
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    changed = 0
    for row_id, body in sql.rows("SELECT id, body FROM outbox WHERE body LIKE ? ESCAPE '\\'", (pattern,)):
        message = json.loads(body)
        data = message.get("data")
        if not isinstance(data, dict) or data.get("customer_id") != customer_id:
            continue
        scrubbed = json.dumps({**message, "data": rewrite(data)}, ensure_ascii=False, separators=(",", ":"),
                              sort_keys=True)
        sql.run("UPDATE outbox SET body = ? WHERE id = ?", (scrubbed, row_id))
        changed += 1
    return changed
