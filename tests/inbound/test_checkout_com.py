"""Checkout.com: hex HMAC signature, and the published refund examples as refund events on the order."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from guard.inbound import KINDS, InvalidSignature, checkout_com
from tests.inbound.conftest import assert_guard_events, fixture


def _signed(secret: str, body: bytes) -> dict[str, str]:
    return {"Cko-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_registered() -> None:
    assert KINDS["checkout_com"] is checkout_com


def test_the_signature_covers_the_raw_body(secret: str) -> None:
    body = fixture("checkout_com", "payment_refunded.json")
    checkout_com.verify(_signed(secret, body), body, secret)
    for headers in ({}, _signed("other", body), _signed(secret, body + b" ")):
        with pytest.raises(InvalidSignature):
            checkout_com.verify(headers, body, secret)


def test_a_refunded_payment_is_a_completed_refund_resolved_from_the_order() -> None:
    mapped = checkout_com.to_events({}, fixture("checkout_com", "payment_refunded.json"))
    assert mapped.delivery_id == "evt_rmbwhvwacc7u5iczmz2tdcogum" and mapped.order_ref == "ORD-5023-4E89"
    assert mapped.events == ({"event_id": "checkout_com-evt_rmbwhvwacc7u5iczmz2tdcogum", "customer_id": None,
                              "type": "refund.completed", "occurred_at": "2020-02-03T11:35:03+00:00",
                              "data": {"refund_id": "act_7fmebms4rtmuja2poigylogjk4", "order_id": "ORD-5023-4E89"}},)
    assert_guard_events(mapped.events)


def test_a_pending_refund_is_requested_and_a_declined_one_rejected() -> None:
    body = fixture("checkout_com", "payment_refund_pending.json")
    assert checkout_com.to_events({}, body).events[0]["type"] == "refund.requested"
    declined = body.replace(b"payment_refund_pending", b"payment_refund_declined")
    assert checkout_com.to_events({}, declined).events[0]["type"] == "refund.rejected"


def test_a_customer_on_the_payment_is_used_directly() -> None:
    body = fixture("checkout_com", "payment_refunded.json").replace(
        b'"currency": "GBP"', b'"currency": "GBP", "customer": {"id": "cus_udst2tfldj6upmye2reztkmm4i"}')
    mapped = checkout_com.to_events({}, body)
    assert mapped.events[0]["customer_id"] == "cus_udst2tfldj6upmye2reztkmm4i" and mapped.order_ref is None


def test_other_types_are_ignored() -> None:
    body = fixture("checkout_com", "payment_refunded.json").replace(b"payment_refunded", b"payment_captured")
    assert "payment_captured" in (checkout_com.to_events({}, body).ignored or "")
