"""WooCommerce webhooks: `X-WC-Webhook-Signature` over the raw body; paid orders and their refunds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guard.inbound.common import (
    MAX_PRODUCTS,
    Mapped,
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

SIGNATURE = "X-WC-Webhook-Signature"
TOPIC = "X-WC-Webhook-Topic"
DELIVERY = "X-WC-Webhook-Delivery-ID"
PAID = frozenset({"processing", "completed"})
# WooCommerce pings a new webhook's URL with this form body, unsigned, and keeps the webhook only on a 2xx.
PING = re.compile(rb"webhook_id=\d{1,20}")


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the header is the base64 HMAC-SHA256 of the raw body (the ping excepted)."""
    if PING.fullmatch(raw_body) and header(headers, SIGNATURE) is None:
        return  # it maps to nothing: accepting it unsigned stores nothing
    check_base64(secret, raw_body, header(headers, SIGNATURE))


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The Guard events an order delivery stands for: a purchase once paid, a completed refund per refund."""
    delivery = ref(header(headers, DELIVERY))
    topic = (header(headers, TOPIC) or "").strip()
    if PING.fullmatch(raw_body):
        return ignored("WooCommerce's ping of a new webhook.", delivery)
    if topic not in ("order.created", "order.updated"):
        return ignored(f"WooCommerce topic {topic or '(none)'!r} does not map to a Guard event.", delivery)
    order = parse_json(raw_body)
    order_id = ref(order.get("id"))
    # Guests have customer_id 0: their billing e-mail is the only reference the shop has.
    fallback = order.get("customer_id") or dig(order, "billing.email")
    customer = ref(dig(order, customer_field) if customer_field else fallback)
    if order_id is None or customer is None:
        return ignored("The order names no id or no customer.", delivery)
    received = now_or(now)
    events = [*_purchase(order, order_id, customer, received), *_refunds(order, order_id, customer, received)]
    if not events:
        return ignored(f"Order {order_id} is {order.get('status')!r}: neither paid nor refunded.", delivery)
    return Mapped(tuple(events), delivery)


def _gmt(order: dict[str, Any], key: str, fallback: datetime) -> str:
    """A `*_gmt` timestamp (WooCommerce writes UTC without an offset) as ISO 8601 with its offset."""
    value = order.get(key)
    return iso(f"{value}+00:00" if isinstance(value, str) and value else None, fallback)


def _purchase(order: dict[str, Any], order_id: str, customer: str, received: datetime) -> list[dict[str, Any]]:
    if order.get("status") not in PAID:
        return []
    products: list[str] = []
    for line in order.get("line_items") or []:
        product = ref(line.get("product_id")) if isinstance(line, dict) else None
        if product not in (None, "0") and product not in products and len(products) < MAX_PRODUCTS:
            products.append(str(product))
    when = _gmt(order, "date_paid_gmt" if order.get("date_paid_gmt") else "date_created_gmt", received)
    return [event(f"woocommerce-order-{order_id}", "purchase.completed", customer, when, order_id=order_id,
                  product_ids=products)]


def _refunds(order: dict[str, Any], order_id: str, customer: str, received: datetime) -> list[dict[str, Any]]:
    when = _gmt(order, "date_modified_gmt", received)
    refund_ids = [ref(r.get("id")) for r in order.get("refunds") or [] if isinstance(r, dict)]
    if not any(refund_ids) and order.get("status") == "refunded":
        refund_ids = [f"order-{order_id}"]  # refunded in full without a refund record in the payload
    return [event(f"woocommerce-refund-{refund_id}", "refund.completed", customer, when, refund_id=refund_id,
                  order_id=order_id) for refund_id in refund_ids if refund_id]
