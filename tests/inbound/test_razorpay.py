"""Razorpay: the SDK's published signature vector, and refund events mapped to Guard's refund events."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from guard.inbound import KINDS, InvalidSignature, razorpay
from tests.inbound.conftest import assert_guard_events, fixture

SDK_SECRET = "key_secret"
SDK_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"


def test_registered() -> None:
    assert KINDS["razorpay"] is razorpay


def test_razorpay_pythons_published_signature_verifies() -> None:
    body = fixture("razorpay", "payment_authorized_sdk.json")
    razorpay.verify({"X-Razorpay-Signature": SDK_SIGNATURE}, body, SDK_SECRET)


@pytest.mark.parametrize("case", ["missing", "wrong secret", "tampered", "base64 instead of hex"])
def test_a_bad_signature_is_refused(case: str) -> None:
    body = fixture("razorpay", "payment_authorized_sdk.json")
    headers = {
        "missing": {},
        "wrong secret": {"X-Razorpay-Signature": hmac.new(b"other", body, hashlib.sha256).hexdigest()},
        "tampered": {"X-Razorpay-Signature": SDK_SIGNATURE},
        "base64 instead of hex": {"X-Razorpay-Signature": "1g5n/YhFVsBF6b59rVeQPjPvxxcsF8bj73e0LSs2Zuk="},
    }[case]
    sent = body.replace(b"a@b.com", b"x@b.com") if case == "tampered" else body
    with pytest.raises(InvalidSignature):
        razorpay.verify(headers, sent, SDK_SECRET)


def test_a_processed_refund_is_completed_for_the_payments_customer() -> None:
    mapped = razorpay.to_events({"X-Razorpay-Event-Id": "Evt1"}, fixture("razorpay", "refund_processed.json"))
    assert mapped.delivery_id == "Evt1" and mapped.order_ref is None
    assert mapped.events == ({
        "event_id": "razorpay-rfnd_FP8DDKxqJif6ca-refund.processed", "customer_id": "a@b.com",
        "type": "refund.completed", "occurred_at": "2020-08-10T16:48:44+00:00",
        "data": {"refund_id": "rfnd_FP8DDKxqJif6ca", "payment_id": "pay_FIKOnlyii5QGNx"},
    },)
    assert_guard_events(mapped.events)


@pytest.mark.parametrize(("name", "event_type"), [("refund.created", "refund.requested"),
                                                  ("refund.failed", "refund.rejected")])
def test_other_refund_events(name: str, event_type: str) -> None:
    body = fixture("razorpay", "refund_processed.json").replace(b'"refund.processed"', f'"{name}"'.encode())
    assert razorpay.to_events({}, body).events[0]["type"] == event_type


def test_without_the_payment_the_customer_comes_from_it() -> None:
    body = fixture("razorpay", "refund_processed.json").replace(b'"email": "a@b.com"', b'"email": null')
    mapped = razorpay.to_events({}, body)
    assert mapped.events[0]["customer_id"] is None and mapped.order_ref == "pay_FIKOnlyii5QGNx"


def test_payment_events_are_ignored() -> None:
    mapped = razorpay.to_events({}, fixture("razorpay", "payment_authorized_sdk.json"))
    assert mapped.events == () and mapped.ignored and "payment.authorized" in mapped.ignored
