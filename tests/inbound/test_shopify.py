"""Shopify: signature over the raw body and the published sample payloads mapped to Guard events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from guard.inbound import KINDS, InvalidSignature, MalformedPayload, shopify
from tests.inbound.conftest import assert_guard_events, fixture

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _headers(topic: str, body: bytes, secret: str, **extra: str) -> dict[str, str]:
    # Header names as HTTP/2 delivers them (lowercase): lookups must not depend on case.
    return {"x-shopify-topic": topic, "x-shopify-hmac-sha256": _sign(secret, body),
            "x-shopify-webhook-id": "545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9",
            "x-shopify-triggered-at": "2025-07-10T16:15:47.000000Z", **extra}


def _paid(body: bytes) -> bytes:
    """Shopify's sample order (published cancelled and voided) as an ordinary paid order, ids untouched."""
    text = body.decode()
    text = text.replace('"cancel_reason": "customer"', '"cancel_reason": null')
    text = text.replace('"cancelled_at": "2021-12-31T19:00:00-05:00"', '"cancelled_at": null')
    return text.replace('"financial_status": "voided"', '"financial_status": "paid"').encode()


def test_registered() -> None:
    assert KINDS["shopify"] is shopify


def test_a_signature_over_the_raw_body_verifies(secret: str) -> None:
    body = fixture("shopify", "orders_create.json")
    shopify.verify({"X-Shopify-Hmac-Sha256": _sign(secret, body)}, body, secret, NOW)


@pytest.mark.parametrize("case", ["missing", "wrong secret", "tampered body", "not base64", "re-serialized body"])
def test_a_bad_signature_is_refused(secret: str, case: str) -> None:
    body = fixture("shopify", "orders_create.json")
    signatures = {
        "missing": None,
        "wrong secret": _sign("another-secret", body),
        "tampered body": _sign(secret, body.replace(b"115310627314723954", b"115310627314723955")),
        "not base64": "%%%",
        # A receiver that parsed and re-encoded the JSON would sign different bytes.
        "re-serialized body": _sign(secret, json.dumps(json.loads(body)).encode()),
    }
    signature = signatures[case]
    headers = {} if signature is None else {"X-Shopify-Hmac-Sha256": signature}
    with pytest.raises(InvalidSignature) as raised:
        shopify.verify(headers, body, secret, NOW)
    assert raised.value.code == "invalid_signature"


def test_the_published_order_sample_is_cancelled_and_so_no_purchase(secret: str) -> None:
    body = fixture("shopify", "orders_create.json")
    mapped = shopify.to_events(_headers("orders/create", body, secret), body, now=NOW)
    assert mapped.events == ()
    assert mapped.ignored and "cancelled or voided" in mapped.ignored
    assert mapped.delivery_id == "545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9"


def test_a_paid_order_is_a_purchase_with_exact_ids_and_only_real_products(secret: str) -> None:
    body = _paid(fixture("shopify", "orders_create.json"))
    mapped = shopify.to_events(_headers("orders/create", body, secret), body, now=NOW)
    assert mapped.ignored is None and mapped.order_ref is None
    (event,) = mapped.events
    assert event == {
        "event_id": "shopify-order-820982911946154508",
        "customer_id": "115310627314723954",
        "type": "purchase.completed",
        "occurred_at": "2021-12-31T19:00:00-05:00",
        # Three lines name one product; the two lines without a product are skipped.
        "data": {"order_id": "820982911946154508", "product_ids": ["788032119674292922"]},
    }
    # Through a float the customer would be a different person.
    assert str(int(float("115310627314723954"))) != event["customer_id"]
    assert_guard_events(mapped.events)


def test_the_customer_field_of_the_source_picks_another_reference(secret: str) -> None:
    body = _paid(fixture("shopify", "orders_create.json"))
    mapped = shopify.to_events(_headers("orders/create", body, secret), body, "customer.email", NOW)
    assert mapped.events[0]["customer_id"] == "john@example.com"


def test_a_redelivered_order_maps_to_the_same_event_id(secret: str) -> None:
    body = _paid(fixture("shopify", "orders_create.json"))
    first = shopify.to_events(_headers("orders/create", body, secret), body, now=NOW)
    again = shopify.to_events(_headers("orders/create", body, secret, **{"x-shopify-webhook-id": "other"}), body)
    assert first.events[0]["event_id"] == again.events[0]["event_id"]


@pytest.mark.parametrize(
    ("topic", "name", "event_type", "key", "value", "order"),
    [
        ("refunds/create", "refunds_create.json", "refund.completed", "refund_id", "890088186047892319",
         "820982911946154508"),
        ("returns/request", "returns_request.json", "refund.requested", "refund_id", "return-123134564567890",
         "4783296544821"),
        ("returns/decline", "returns_decline.json", "refund.rejected", "refund_id", "return-123134564567890",
         "4783296544821"),
        ("returns/close", "returns_close.json", "refund.completed", "refund_id", "return-123134564567890",
         "4783296544821"),
        ("disputes/create", "disputes_create.json", "complaint.opened", "case_id", "dispute-285332461850802063",
         "820982911946154508"),
    ],
)
def test_topics_naming_only_an_order_ask_for_the_customer_from_it(
    secret: str, topic: str, name: str, event_type: str, key: str, value: str, order: str
) -> None:
    body = fixture("shopify", name)
    mapped = shopify.to_events(_headers(topic, body, secret), body, now=NOW)
    (event,) = mapped.events
    assert (event["type"], event["data"][key], event["customer_id"]) == (event_type, value, None)
    assert mapped.order_ref == order == event["data"]["order_id"]
    assert_guard_events(mapped.events)


def test_a_return_request_and_its_close_settle_one_refund(secret: str) -> None:
    requested = fixture("shopify", "returns_request.json")
    closed = fixture("shopify", "returns_close.json")
    opened = shopify.to_events(_headers("returns/request", requested, secret), requested, now=NOW).events[0]
    settled = shopify.to_events(_headers("returns/close", closed, secret), closed, now=NOW).events[0]
    assert opened["data"]["refund_id"] == settled["data"]["refund_id"]
    assert opened["event_id"] != settled["event_id"]


def test_email_consent_not_subscribed_is_withdrawn(secret: str) -> None:
    body = fixture("shopify", "customers_email_marketing_consent_update.json")
    headers = _headers("customers_email_marketing_consent/update", body, secret, **{"x-shopify-event-id": "e-1"})
    (event,) = shopify.to_events(headers, body, now=NOW).events
    assert (event["type"], event["customer_id"], event["data"]) == (
        "consent.withdrawn", "706405506930370084", {"channel": "email", "purpose": "marketing"})
    # Without consent_updated_at the merchant action's id keeps a redelivery the same event.
    again = shopify.to_events({**headers, "x-shopify-webhook-id": "retry"}, body, now=NOW).events[0]
    assert again["event_id"] == event["event_id"]
    assert_guard_events((event,))


def test_email_consent_subscribed_is_given(secret: str) -> None:
    body = fixture("shopify", "customers_email_marketing_consent_update.json").replace(
        b'"state": "not_subscribed"', b'"state": "subscribed"')
    (event,) = shopify.to_events(_headers("customers_email_marketing_consent/update", body, secret), body).events
    assert event["type"] == "consent.given"


def test_sms_consent_without_a_state_changes_nothing_and_subscribed_is_given(secret: str) -> None:
    body = fixture("shopify", "customers_marketing_consent_update.json")
    mapped = shopify.to_events(_headers("customers_marketing_consent/update", body, secret), body, now=NOW)
    assert mapped.events == () and mapped.ignored and "empty" in mapped.ignored
    subscribed = body.replace(b'"state": null', b'"state": "subscribed"')
    (event,) = shopify.to_events(_headers("customers_marketing_consent/update", subscribed, secret), subscribed,
                                 now=NOW).events
    assert (event["type"], event["data"]["channel"]) == ("consent.given", "sms")


def test_an_unmapped_topic_is_ignored_with_its_name_even_with_a_body_guard_cannot_read(secret: str) -> None:
    mapped = shopify.to_events(_headers("products/create", b"<not json>", secret), b"<not json>", now=NOW)
    assert mapped.events == () and mapped.ignored and "products/create" in mapped.ignored


def test_a_mapped_topic_with_a_body_that_is_not_json_is_malformed(secret: str) -> None:
    with pytest.raises(MalformedPayload):
        shopify.to_events(_headers("orders/create", b"[1, 2", secret), b"[1, 2", now=NOW)
