"""Zendesk event webhooks: base64 HMAC-SHA256 of timestamp + body; ticket events mapped to complaints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guard.inbound.common import (
    Mapped,
    check_base64,
    check_fresh,
    dig,
    event,
    header,
    ignored,
    iso,
    now_or,
    parse_json,
    ref,
    timestamp,
)
from guard.inbound.errors import InvalidSignature

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
CREATED = "zen:event-type:ticket.created"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
DONE = frozenset({"solved", "closed"})


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the signature is base64 HMAC-SHA256 of timestamp + body, signed recently."""
    stamp = header(headers, TIMESTAMP)
    signed_at = timestamp(stamp)
    if stamp is None or signed_at is None:
        raise InvalidSignature(f"The {TIMESTAMP} header is missing or not a timestamp.")
    check_base64(secret, stamp.encode() + raw_body, header(headers, SIGNATURE))
    check_fresh(signed_at, now_or(now))


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The Guard events a Zendesk ticket event stands for."""
    payload = parse_json(raw_body)
    delivery = ref(payload.get("id"))
    kind = payload.get("type")
    detail = payload.get("detail")
    if kind not in (CREATED, STATUS_CHANGED) or not isinstance(detail, dict):
        return ignored(f"Zendesk event type {kind!r} does not map to a Guard event.", delivery)
    case_id = ref(detail.get("id"))
    customer = ref(dig(payload, customer_field) if customer_field else detail.get("requester_id"))
    if delivery is None or case_id is None or customer is None:
        return ignored("The ticket event names no event id, ticket or requester.", delivery)
    event_type = "complaint.opened" if kind == CREATED else _status_event(payload.get("event"))
    if event_type is None:
        return ignored("This ticket status change neither settles nor reopens a complaint.", delivery)
    occurred = iso(payload.get("time"), now_or(now))
    return Mapped((event(f"zendesk-{delivery}", event_type, customer, occurred, case_id=case_id),), delivery)


def _status_event(change: Any) -> str | None:
    """complaint.resolved for a change to solved or closed, complaint.reopened for solved or closed back to open."""
    if not isinstance(change, dict):
        return None
    current = str(change.get("current") or "").lower()
    previous = str(change.get("previous") or "").lower()
    if current in DONE:
        return "complaint.resolved"
    if current == "open" and previous in DONE:
        return "complaint.reopened"
    return None
