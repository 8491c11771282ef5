"""Intercom webhooks: `X-Hub-Signature` (sha1 HMAC of the raw body); conversations as complaint events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guard.inbound.common import Mapped, check_hub_sha1, dig, event, header, ignored, iso, now_or, parse_json, ref

SIGNATURE = "X-Hub-Signature"
TOPICS = {"conversation.user.created": "complaint.opened", "conversation.admin.closed": "complaint.resolved",
          "conversation.admin.opened": "complaint.reopened"}


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the header is `sha1=` the hex HMAC-SHA1 of the raw body (no timestamp)."""
    check_hub_sha1(secret, raw_body, header(headers, SIGNATURE))


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The complaint event a conversation notification stands for."""
    payload = parse_json(raw_body)
    delivery = ref(payload.get("id"))
    topic = payload.get("topic")
    item = dig(payload, "data.item")
    if topic not in TOPICS or not isinstance(item, dict):
        return ignored(f"Intercom topic {topic!r} does not map to a Guard event.", delivery)
    case_id = ref(item.get("id"))
    customer = ref(dig(payload, customer_field)) if customer_field else _contact(item)
    if delivery is None or case_id is None or customer is None:
        return ignored("The notification names no id, conversation or contact.", delivery)
    occurred = iso(_epoch(payload.get("created_at")) or _epoch(item.get("updated_at")), now_or(now))
    return Mapped((event(f"intercom-{delivery}", TOPICS[str(topic)], customer, occurred, case_id=case_id),), delivery)


def _contact(item: dict[str, Any]) -> str | None:
    """The conversation's contact: `contacts` (API 2.x), the source's author, or `user` (API 1.x)."""
    return (ref(dig(item, "contacts.contacts.0.id")) or ref(dig(item, "source.author.id"))
            or ref(dig(item, "user.id")))


def _epoch(value: Any) -> int | None:
    """Intercom's epoch seconds, sent as numbers or (API 1.x) as digit strings."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
