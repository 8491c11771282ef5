"""Checkout.com webhooks: `Cko-Signature` (hex HMAC-SHA256 of the raw body); refund events."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from guard.inbound.common import Mapped, dig, event, header, ignored, iso, now_or, parse_json, ref, sign
from guard.inbound.errors import InvalidSignature

SIGNATURE = "Cko-Signature"
TYPES = {"payment_refund_pending": "refund.requested", "payment_refunded": "refund.completed",
         "payment_refund_declined": "refund.rejected"}


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the header is the hex HMAC-SHA256 of the raw body (no timestamp)."""
    given = (header(headers, SIGNATURE) or "").strip().lower()
    if not given or not hmac.compare_digest(given, sign(secret, raw_body).hex()):
        raise InvalidSignature("The Cko-Signature does not match the body.")


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The refund event a payment refund notification stands for; the customer is found from the order."""
    payload = parse_json(raw_body)
    delivery = ref(payload.get("id"))
    kind = payload.get("type")
    data = payload.get("data")
    if kind not in TYPES or not isinstance(data, dict):
        return ignored(f"Checkout.com event type {kind!r} does not map to a Guard event.", delivery)
    # The refund is an action on the payment; its action id names this refund across pending/refunded/declined.
    refund_id = ref(data.get("action_id")) or ref(data.get("id"))
    order = ref(data.get("reference")) or ref(data.get("id"))
    default = dig(data, "customer.id") or dig(data, "customer.email")
    customer = ref(dig(payload, customer_field) if customer_field else default)
    if delivery is None or refund_id is None:
        return ignored("The notification names no event id or refund.", delivery)
    occurred = iso(data.get("processed_on") or payload.get("created_on") or payload.get("timestamp"), now_or(now))
    extra = {"order_id": order} if order else {}
    mapped = event(f"checkout_com-{delivery}", TYPES[str(kind)], customer, occurred, refund_id=refund_id, **extra)
    return Mapped((mapped,), delivery, order_ref=None if customer else order)
