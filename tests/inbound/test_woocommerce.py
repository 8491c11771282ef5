"""WooCommerce: signature over the raw body; paid orders become purchases and listed refunds completed refunds."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from guard.inbound import KINDS, InvalidSignature, woocommerce
from tests.inbound.conftest import assert_guard_events, fixture


def _headers(secret: str, body: bytes, topic: str = "order.created") -> dict[str, str]:
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    resource, _, action = topic.partition(".")
    return {"X-WC-Webhook-Source": "https://shop.example/", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": action, "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": "3", "X-WC-Webhook-Delivery-ID": "36e520ebabc2fa725092ff4a47acedf2"}


def test_registered() -> None:
    assert KINDS["woocommerce"] is woocommerce


def test_the_signature_covers_the_raw_body(secret: str) -> None:
    body = fixture("woocommerce", "order_727.json")
    woocommerce.verify(_headers(secret, body), body, secret)
    with pytest.raises(InvalidSignature):
        woocommerce.verify(_headers("other", body), body, secret)
    with pytest.raises(InvalidSignature):
        woocommerce.verify({}, body, secret)


def test_the_unsigned_ping_of_a_new_webhook_passes_and_maps_to_nothing(secret: str) -> None:
    woocommerce.verify({}, b"webhook_id=3", secret)
    assert woocommerce.to_events({}, b"webhook_id=3").ignored
    with pytest.raises(InvalidSignature):
        woocommerce.verify({}, b"webhook_id=3&x=1", secret)


def test_a_guests_paid_order_is_a_purchase_under_the_billing_email(secret: str) -> None:
    body = fixture("woocommerce", "order_727.json")
    mapped = woocommerce.to_events(_headers(secret, body), body)
    assert mapped.delivery_id == "36e520ebabc2fa725092ff4a47acedf2"
    assert mapped.events == ({
        "event_id": "woocommerce-order-727", "customer_id": "john.doe@example.com", "type": "purchase.completed",
        "occurred_at": "2017-03-22T19:28:08+00:00", "data": {"order_id": "727", "product_ids": ["93", "22"]},
    },)
    assert_guard_events(mapped.events)


def test_an_updated_order_with_refunds_is_its_purchase_and_each_refund(secret: str) -> None:
    body = fixture("woocommerce", "order_723.json")
    mapped = woocommerce.to_events(_headers(secret, body, "order.updated"), body)
    assert [(e["type"], e["customer_id"], e["event_id"]) for e in mapped.events] == [
        ("purchase.completed", "26", "woocommerce-order-723"),
        ("refund.completed", "26", "woocommerce-refund-726"),
        ("refund.completed", "26", "woocommerce-refund-724"),
    ]
    assert mapped.events[1]["data"] == {"refund_id": "726", "order_id": "723"}
    assert_guard_events(mapped.events)


@pytest.mark.parametrize("status", ["pending", "on-hold", "cancelled", "failed"])
def test_an_unpaid_order_is_no_purchase(secret: str, status: str) -> None:
    body = fixture("woocommerce", "order_727.json").replace(b'"status": "processing"', f'"status": "{status}"'.encode())
    mapped = woocommerce.to_events(_headers(secret, body), body)
    assert mapped.events == () and mapped.ignored and status in mapped.ignored


def test_a_refunded_order_without_refund_records_is_one_refund(secret: str) -> None:
    body = fixture("woocommerce", "order_727.json").replace(b'"status": "processing"', b'"status": "refunded"')
    (event,) = woocommerce.to_events(_headers(secret, body, "order.updated"), body).events
    assert (event["type"], event["data"]["refund_id"]) == ("refund.completed", "order-727")


def test_other_topics_are_ignored(secret: str) -> None:
    body = fixture("woocommerce", "order_727.json")
    mapped = woocommerce.to_events(_headers(secret, body, "product.updated"), body)
    assert mapped.events == () and mapped.ignored and "product.updated" in mapped.ignored
