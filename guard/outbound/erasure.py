"""Erasing a customer from the outbox: the messages about them keep their shape, not the person.

A message's body is stored once, on its outbox row; each delivery reads it when it is sent. A delivery still
pending after the erasure therefore sends the scrubbed body; one already delivered cannot be recalled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from guard.storage.sql import Sql, chunks, member_of

# (event type, message data) → the data without the person.
Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]


def scrub_messages(sql: Sql, customer_id: str, rewrite: Rewrite, answer: str) -> int:
    """Rewrite the data of every message whose `data.customer_id` is the customer (delivered or not), and replace
    by `answer` what its receivers last answered (an error answer may quote the body); returns how many.
    Erasure is rare: the bodies are searched as text, and each candidate is checked parsed."""
    needle = json.dumps(customer_id, ensure_ascii=False)  # as message_body writes it
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    changed: list[int] = []
    for row_id, event_type, body in sql.rows("SELECT id, type, body FROM outbox WHERE body LIKE ? ESCAPE '\\'",
                                             (pattern,)):
        message = json.loads(body)
        data = message.get("data")
        if not isinstance(data, dict) or data.get("customer_id") != customer_id:
            continue
        scrubbed = json.dumps({**message, "data": rewrite(str(event_type), data)}, ensure_ascii=False,
                              separators=(",", ":"), sort_keys=True)
        sql.run("UPDATE outbox SET body = ? WHERE id = ?", (scrubbed, row_id))
        changed.append(int(row_id))
    for chunk in chunks(changed):
        member, params = member_of(sql, "outbox_id", chunk)
        sql.run(f"UPDATE webhook_deliveries SET last_error = ? WHERE last_error IS NOT NULL AND {member}",
                [answer, *params])
    return len(changed)
