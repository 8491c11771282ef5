"""Zammad webhooks: `X-Hub-Signature` (sha1 HMAC of the raw body); a ticket's state as complaint events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from guard.inbound.common import Mapped, check_hub_sha1, dig, event, header, ignored, iso, now_or, parse_json, ref

SIGNATURE = "X-Hub-Signature"
DELIVERY = "X-Zammad-Delivery"
CLOSED = ("closed", "merged")  # also "closed successful", "closed unsuccessful"


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the header is `sha1=` the hex HMAC-SHA1 of the raw body (no timestamp)."""
    check_hub_sha1(secret, raw_body, header(headers, SIGNATURE))


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The complaint event a ticket's state stands for: closed resolves, open after a close reopens."""
    payload = parse_json(raw_body)
    delivery = ref(header(headers, DELIVERY))
    ticket = payload.get("ticket")
    if not isinstance(ticket, dict):
        return ignored("Not a Zammad ticket payload.", delivery)
    case_id = ref(ticket.get("number")) or ref(ticket.get("id"))
    customer = ref(dig(payload, customer_field) if customer_field else ticket.get("customer_id"))
    state = str(ticket.get("state") or "").lower()
    if case_id is None or customer is None or not state:
        return ignored("The ticket names no number, customer or state.", delivery)
    updated = iso(ticket.get("updated_at"), now_or(now))
    if state.startswith(CLOSED):
        closed_at = ticket.get("last_close_at") or ticket.get("updated_at")
        mapped = event(f"zammad-{case_id}-resolved-{closed_at}", "complaint.resolved", customer,
                       iso(closed_at, now_or(now)), case_id=case_id)
    elif ticket.get("last_close_at"):
        # Zammad keeps when a ticket was last closed: an open ticket with one was reopened.
        mapped = event(f"zammad-{case_id}-reopened-{ticket['last_close_at']}", "complaint.reopened", customer,
                       updated, case_id=case_id)
    else:
        mapped = event(f"zammad-{case_id}-opened", "complaint.opened", customer,
                       iso(ticket.get("created_at"), now_or(now)), case_id=case_id)
    return Mapped((mapped,), delivery)
