"""Deliveries as the vendors send them: their published sample bodies, signed with a source's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from tests.inbound.conftest import fixture


def _b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def paid_order() -> bytes:
    """Shopify's sample `orders/create` body (published cancelled and voided) as an ordinary paid order."""
    text = fixture("shopify", "orders_create.json").decode()
    text = text.replace('"cancel_reason": "customer"', '"cancel_reason": null')
    text = text.replace('"cancelled_at": "2021-12-31T19:00:00-05:00"', '"cancelled_at": null')
    return text.replace('"financial_status": "voided"', '"financial_status": "paid"').encode()


SHOPIFY_CUSTOMER = "115310627314723954"  # the sample order's customer.id (above 2**53)
SHOPIFY_PRODUCT = "788032119674292922"  # its one line item with a product
SHOPIFY_ORDER = "820982911946154508"


def shopify(secret: str, body: bytes, topic: str, webhook_id: str | None = None) -> dict[str, str]:
    """Shopify's headers: topic, delivery id and the base64 HMAC-SHA256 of the raw body."""
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": _b64(secret, body), "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": "example.myshopify.com"}


def stripe(secret: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """Stripe-Signature `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`."""
    stamp = int((at or datetime.now(UTC)).timestamp())
    v1 = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": f"t={stamp},v1={v1}"}


def zendesk(secret: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """Zendesk's base64 HMAC-SHA256 of timestamp + body, with its timestamp header."""
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": _b64(secret, stamp.encode() + body),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Id": str(uuid.uuid4())}


ZENDESK_REQUESTER = "8447388090494"  # ticket_created.json's detail.requester_id


def hubspot(secret: str, body: bytes, url: str, at: datetime | None = None) -> dict[str, str]:
    """HubSpot v3: base64 HMAC-SHA256 of method + full URL + body + timestamp (milliseconds)."""
    stamp = str(int((at or datetime.now(UTC)).timestamp() * 1000))
    digest = hmac.new(secret.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256).digest()
    return {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
            "X-HubSpot-Signature-v3": base64.b64encode(digest).decode()}
