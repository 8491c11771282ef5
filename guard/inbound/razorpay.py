"""Razorpay webhooks: `X-Razorpay-Signature` (hex HMAC-SHA256 of the raw body); refund events."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from guard.inbound.common import Mapped, dig, event, header, ignored, iso, now_or, parse_json, ref, sign
from guard.inbound.errors import InvalidSignature

SIGNATURE = "X-Razorpay-Signature"
DELIVERY = "X-Razorpay-Event-Id"
EVENTS = {"refund.created": "refund.requested", "refund.processed": "refund.completed",
          "refund.failed": "refund.rejected"}


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the header is the hex HMAC-SHA256 of the raw body (no timestamp)."""
    given = (header(headers, SIGNATURE) or "").strip().lower()
    if not given or not hmac.compare_digest(given, sign(secret, raw_body).hex()):
        raise InvalidSignature("The Razorpay signature does not match the body.")


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The Guard event a refund event stands for; the customer is the payment's, else found from the payment."""
    payload = parse_json(raw_body)
    name = payload.get("event")
    refund = dig(payload, "payload.refund.entity")
    delivery = ref(header(headers, DELIVERY))
    if name not in EVENTS or not isinstance(refund, dict):
        return ignored(f"Razorpay event {name!r} does not map to a Guard event.", delivery)
    refund_id = ref(refund.get("id"))
    payment_id = ref(refund.get("payment_id"))
    if refund_id is None:
        return ignored("The refund has no id.", delivery)
    payment = dig(payload, "payload.payment.entity") or {}
    default = (payment.get("customer_id") or payment.get("email")) if isinstance(payment, dict) else None
    customer = ref(dig(payload, customer_field) if customer_field else default)
    occurred = iso(refund.get("created_at") or payload.get("created_at"), now_or(now))
    data = {"refund_id": refund_id, **({"payment_id": payment_id} if payment_id else {})}
    mapped = event(f"razorpay-{refund_id}-{name}", EVENTS[str(name)], customer, occurred, **data)
    return Mapped((mapped,), delivery or f"{refund_id}-{name}", order_ref=None if customer else payment_id)
