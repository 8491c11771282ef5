"""Shopify webhooks: `X-Shopify-Hmac-Sha256` over the raw body; topics mapped to Guard events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from guard.inbound.common import (
    MAX_PRODUCTS,
    Mapped,
    body_key,
    check_base64,
    dig,
    event,
    header,
    ignored,
    iso,
    now_or,
    parse_json,
    ref,
)

SIGNATURE = "X-Shopify-Hmac-Sha256"
TOPIC = "X-Shopify-Topic"
DELIVERY = "X-Shopify-Webhook-Id"
ACTION = "X-Shopify-Event-Id"  # shared by every delivery of one merchant action
TRIGGERED = "X-Shopify-Triggered-At"


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the header is the base64 HMAC-SHA256 of the raw body (no timestamp)."""
    check_base64(secret, raw_body, header(headers, SIGNATURE))


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The Guard events a Shopify delivery stands for."""
    topic = (header(headers, TOPIC) or "").strip()
    delivery = ref(header(headers, DELIVERY))
    mapper = TOPICS.get(topic)
    if mapper is None:
        return ignored(f"Shopify topic {topic or '(none)'!r} does not map to a Guard event.", delivery)
    payload = parse_json(raw_body)
    context = _Context(headers, raw_body, payload, customer_field, now_or(now))
    mapped = mapper(context)
    return Mapped(mapped.events, delivery, mapped.ignored, mapped.order_ref)


class _Context:
    """One delivery's parts, as the topic mappers read them."""

    def __init__(self, headers: Mapping[str, str], raw_body: bytes, payload: dict[str, Any],
                 customer_field: str | None, now: datetime) -> None:
        self.payload = payload
        self.customer_field = customer_field
        self.received = datetime.fromisoformat(iso(header(headers, TRIGGERED), now))
        self.action = ref(header(headers, ACTION)) or ref(header(headers, DELIVERY)) or body_key(raw_body)

    def customer(self, default: Any) -> str | None:
        """The customer reference: the source's configured field when set, else the topic's own."""
        return ref(dig(self.payload, self.customer_field) if self.customer_field else default)

    def when(self, *keys: str) -> str:
        """The first of these payload timestamps, or when Shopify triggered the delivery."""
        for key in keys:
            if self.payload.get(key):
                return iso(self.payload[key], self.received)
        return self.received.isoformat()


def _order_created(c: _Context) -> Mapped:
    order = c.payload
    order_id = ref(order.get("id"))
    if order_id is None:
        return ignored("The order has no id.")
    if order.get("cancelled_at") or order.get("financial_status") == "voided":
        return ignored(f"Order {order_id} is cancelled or voided: no purchase.")
    customer = c.customer(dig(order, "customer.id"))
    if customer is None:
        return ignored(f"Order {order_id} names no customer.")
    products: list[str] = []
    for line in order.get("line_items") or []:
        product = ref(line.get("product_id")) if isinstance(line, dict) else None
        if product is not None and product not in products and len(products) < MAX_PRODUCTS:
            products.append(product)
    return Mapped((event(f"shopify-order-{order_id}", "purchase.completed", customer,
                         c.when("processed_at", "created_at"), order_id=order_id, product_ids=products),))


def _by_order(event_type: str, kind: str, id_key: str, order_path: str, when: tuple[str, ...] = (),
              prefix: str = "") -> Callable[[_Context], Mapped]:
    """A mapper for topics that name only the order: the customer must be found from it."""

    def mapper(c: _Context) -> Mapped:
        own_id = ref(c.payload.get("id"))
        order_id = ref(dig(c.payload, order_path))
        if own_id is None or order_id is None:
            return ignored(f"The {kind} names no id or no order.")
        customer = c.customer(None)
        occurred = c.when(*when)
        data = {id_key: f"{prefix}{own_id}", "order_id": order_id}
        mapped = event(f"shopify-{kind}-{own_id}-{event_type}", event_type, customer, occurred, **data)
        return Mapped((mapped,), order_ref=None if customer else order_id)

    return mapper


def _consent(channel: str, customer_key: str, consent_key: str) -> Callable[[_Context], Mapped]:
    """A mapper for a marketing-consent topic: `subscribed` gives consent, any other state withdraws it."""

    def mapper(c: _Context) -> Mapped:
        customer = c.customer(c.payload.get(customer_key))
        consent = c.payload.get(consent_key)
        if not isinstance(consent, dict):
            consent = {}
        state = consent.get("state")
        if customer is None:
            return ignored("The consent update names no customer.")
        if not isinstance(state, str) or not state:
            return ignored(f"The {channel} consent state is empty: nothing changed.")
        changed = consent.get("consent_updated_at") or c.action
        event_type = "consent.given" if state == "subscribed" else "consent.withdrawn"
        occurred = iso(consent.get("consent_updated_at"), c.received)
        return Mapped((event(f"shopify-consent-{channel}-{customer}-{changed}", event_type, customer, occurred,
                             channel=channel, purpose="marketing"),))

    return mapper


TOPICS: dict[str, Callable[[_Context], Mapped]] = {
    "orders/create": _order_created,
    "refunds/create": _by_order("refund.completed", "refund", "refund_id", "order_id",
                                ("processed_at", "created_at")),
    # A return's request, decline and close share one refund_id, so Guard sees one refund settle.
    "returns/request": _by_order("refund.requested", "return", "refund_id", "order.id", prefix="return-"),
    "returns/decline": _by_order("refund.rejected", "return", "refund_id", "order.id", prefix="return-"),
    "returns/close": _by_order("refund.completed", "return", "refund_id", "order_id", prefix="return-"),
    "disputes/create": _by_order("complaint.opened", "dispute", "case_id", "order_id", ("initiated_at",),
                                 prefix="dispute-"),
    "customers_email_marketing_consent/update": _consent("email", "customer_id", "email_marketing_consent"),
    "customers_marketing_consent/update": _consent("sms", "id", "sms_marketing_consent"),
}
