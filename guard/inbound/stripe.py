"""Stripe webhooks: `Stripe-Signature` (`t=…,v1=…`) over `t.body`; refunds and disputes mapped to Guard events."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from guard.inbound.common import (
    Mapped,
    check_fresh,
    dig,
    event,
    header,
    ignored,
    iso,
    now_or,
    parse_json,
    ref,
    sign,
    timestamp,
)
from guard.inbound.errors import InvalidSignature

SIGNATURE = "Stripe-Signature"
MAX_SIGNATURES = 10  # a rolled secret sends two v1 values; more is not Stripe
# A refund's status as Guard's refund events: pending ones wait, failed or canceled ones were refused.
REFUND_STATUS = {"succeeded": "refund.completed", "pending": "refund.requested", "requires_action": "refund.requested",
                 "failed": "refund.rejected", "canceled": "refund.rejected"}


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless one v1 is the hex HMAC-SHA256 of `t.body` and t is within 300 s."""
    signed_at, signatures = _parse(header(headers, SIGNATURE))
    check_fresh(signed_at, now_or(now))
    expected = sign(secret, f"{int(signed_at.timestamp())}.".encode() + raw_body).hex()
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise InvalidSignature("No v1 signature matches the body.")


def _parse(value: str | None) -> tuple[datetime, list[str]]:
    """The timestamp and v1 signatures of a Stripe-Signature header."""
    if not value:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    stamp: int | None = None
    signatures: list[str] = []
    for item in value.split(",")[: MAX_SIGNATURES + 4]:
        key, _, text = item.strip().partition("=")
        if key == "t" and text.isdigit() and len(text) <= 12:
            stamp = int(text)
        elif key == "v1" and len(signatures) < MAX_SIGNATURES:
            signatures.append(text.lower())
    signed_at = timestamp(stamp) if stamp is not None else None
    if signed_at is None or not signatures:
        raise InvalidSignature("The Stripe-Signature header has no valid timestamp or no v1 signature.")
    return signed_at, signatures


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The Guard events a Stripe event (snapshot payload, current or legacy shape) stands for."""
    payload = parse_json(raw_body)
    event_id = ref(payload.get("id"))
    event_type = payload.get("type") if isinstance(payload.get("type"), str) else None
    if payload.get("object") != "event" or event_id is None or event_type is None:
        # Thin events (`v2.core.event`) carry no object; subscribe the endpoint to snapshot events.
        return ignored("Not a Stripe snapshot event (object \"event\" with an id and a type).", event_id)
    obj = dig(payload, "data.object")
    mapper = TYPES.get(event_type)
    if mapper is None or not isinstance(obj, dict):
        return ignored(f"Stripe event type {event_type!r} does not map to a Guard event.", event_id)
    occurred = iso(payload.get("created"), now_or(now))
    customer = ref(dig(payload, customer_field)) if customer_field else _customer(obj)
    mapped = mapper(event_id, obj, customer, occurred)
    return Mapped(mapped.events, event_id, mapped.ignored, mapped.order_ref)


def _customer(obj: dict[str, Any]) -> str | None:
    """The customer of a charge or refund; charges before 2015 kept it on their card (`card.customer`)."""
    return ref(obj.get("customer")) or ref(dig(obj, "card.customer")) or ref(dig(obj, "source.customer"))


def _charge_refunded(event_id: str, charge: dict[str, Any], customer: str | None, occurred: str) -> Mapped:
    charge_id = ref(charge.get("id"))
    if charge_id is None:
        return ignored("The refunded charge has no id.")
    refunds = charge.get("refunds")
    # Until 2014-05-19 `refunds` was a plain list; later a list object; since 2022-11-15 it is left out.
    listed = refunds.get("data") if isinstance(refunds, dict) else refunds
    events = []
    for refund in listed if isinstance(listed, list) else []:
        refund_id = ref(refund.get("id")) if isinstance(refund, dict) else None
        if refund_id is not None:
            kind = REFUND_STATUS.get(refund.get("status") or "succeeded", "refund.completed")
            events.append(event(f"stripe-{event_id}-{refund_id}", kind, customer, iso(refund.get("created"),
                          datetime.fromisoformat(occurred)), refund_id=refund_id, charge_id=charge_id))
    if not events:
        # No list: the charge itself is the refund, one per refunded total so partial refunds stay apart.
        refund_id = f"{charge_id}-{ref(charge.get('amount_refunded')) or 'all'}"
        events.append(event(f"stripe-{event_id}", "refund.completed", customer, occurred, refund_id=refund_id,
                            charge_id=charge_id))
    return Mapped(tuple(events), order_ref=None if customer else charge_id)


def _refund(event_id: str, refund: dict[str, Any], customer: str | None, occurred: str) -> Mapped:
    refund_id = ref(refund.get("id"))
    charge_id = ref(refund.get("charge")) or ref(refund.get("payment_intent"))
    kind = REFUND_STATUS.get(refund.get("status") or "")
    if refund_id is None or kind is None:
        return ignored(f"Refund status {refund.get('status')!r} does not map to a Guard event.")
    data = {"refund_id": refund_id, **({"charge_id": charge_id} if charge_id else {})}
    return Mapped((event(f"stripe-{event_id}", kind, customer, occurred, **data),),
                  order_ref=None if customer else charge_id)


def _dispute(event_type: str) -> Callable[[str, dict[str, Any], str | None, str], Mapped]:
    """A mapper from a dispute event to a complaint event; a dispute names its charge, not its customer."""

    def mapper(event_id: str, dispute: dict[str, Any], customer: str | None, occurred: str) -> Mapped:
        dispute_id = ref(dispute.get("id"))
        charge_id = ref(dispute.get("charge")) or ref(dispute.get("payment_intent"))
        if dispute_id is None:
            return ignored("The dispute has no id.")
        data = {"case_id": dispute_id, **({"charge_id": charge_id} if charge_id else {})}
        return Mapped((event(f"stripe-{event_id}", event_type, customer, occurred, **data),),
                      order_ref=None if customer else charge_id)

    return mapper


TYPES: dict[str, Callable[[str, dict[str, Any], str | None, str], Mapped]] = {
    "charge.refunded": _charge_refunded,
    "refund.created": _refund,
    "refund.updated": _refund,
    "refund.failed": _refund,
    "charge.refund.updated": _refund,  # what Stripe sends for refunds updated on charges
    "charge.dispute.created": _dispute("complaint.opened"),
    "charge.dispute.closed": _dispute("complaint.resolved"),
}
