"""Stripe: `Stripe-Signature` with timestamp tolerance, and refund and dispute events in current and legacy shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from guard.inbound import KINDS, InvalidSignature, stripe
from tests.inbound.conftest import assert_guard_events, fixture

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The v0 value of the example header in Stripe's "verify manually" documentation: a scheme Guard must skip.
DOCS_V0 = "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
# stripe-python's own test payload and secret (tests/test_webhook.py).
SDK_PAYLOAD = '{\n  "id": "evt_test_webhook",\n  "object": "event"\n}'
SDK_SECRET = "whsec_test_secret"


def _v1(secret: str, stamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def _header(secret: str, body: bytes, at: datetime = NOW) -> dict[str, str]:
    stamp = int(at.timestamp())
    return {"stripe-signature": f"t={stamp},v1={_v1(secret, stamp, body)},v0={DOCS_V0}"}


def test_registered() -> None:
    assert KINDS["stripe"] is stripe


def test_stripe_pythons_test_vector_verifies() -> None:
    body = SDK_PAYLOAD.encode()
    stripe.verify(_header(SDK_SECRET, body), body, SDK_SECRET, NOW)


def test_one_good_v1_among_several_is_enough(secret: str) -> None:
    body = fixture("stripe", "refund_created.json")
    stamp = int(NOW.timestamp())
    header = f"t={stamp},v1=bad_signature,v1={_v1(secret, stamp, body)}"
    stripe.verify({"Stripe-Signature": header}, body, secret, NOW)


@pytest.mark.parametrize("case", ["missing", "no v1", "only v0", "wrong secret", "tampered", "stale", "future",
                                  "garbage", "year 33658"])
def test_a_bad_or_stale_signature_is_refused(secret: str, case: str) -> None:
    body = fixture("stripe", "refund_created.json")
    stamp = int(NOW.timestamp())
    headers = {
        "missing": {},
        "no v1": {"Stripe-Signature": f"t={stamp}"},
        "only v0": {"Stripe-Signature": f"t={stamp},v0={_v1(secret, stamp, body)}"},
        "wrong secret": _header("whsec_other", body),
        "tampered": _header(secret, body.replace(b"re_1Pgc72B7WZ01zgkWqPvrRrPE", b"re_1Pgc72B7WZ01zgkWqPvrRrPF")),
        "stale": _header(secret, body, NOW - timedelta(seconds=301)),
        "future": _header(secret, body, NOW + timedelta(seconds=301)),
        "garbage": {"Stripe-Signature": "i'm not even a real signature header"},
        # A timestamp datetime cannot hold is refused like any other bad header, never an error.
        "year 33658": {"Stripe-Signature": f"t=999999999999,v1={_v1(secret, 999999999999, body)}"},
    }[case]
    with pytest.raises(InvalidSignature):
        stripe.verify(headers, body, secret, NOW)


def test_within_the_tolerance_is_fresh(secret: str) -> None:
    body = fixture("stripe", "refund_created.json")
    stripe.verify(_header(secret, body, NOW - timedelta(seconds=299)), body, secret, NOW)


def test_charge_refunded_current_shape_is_one_completed_refund_of_the_customer() -> None:
    mapped = stripe.to_events({}, fixture("stripe", "charge_refunded.json"), now=NOW)
    (event,) = mapped.events
    assert mapped.delivery_id == "evt_1Pgc76B7WZ01zgkWwyRHS12y" and mapped.order_ref is None
    assert (event["type"], event["customer_id"]) == ("refund.completed", "cus_NffrFeUfNV2Hib")
    assert event["data"] == {"refund_id": "ch_1PgafuB7WZ01zgkWXYmPNZs8-100", "charge_id": "ch_1PgafuB7WZ01zgkWXYmPNZs8"}
    assert event["occurred_at"] == "2009-02-13T23:31:30+00:00"
    assert_guard_events(mapped.events)


def test_charge_refunded_legacy_shape_names_each_listed_refund() -> None:
    mapped = stripe.to_events({}, fixture("stripe", "charge_refunded_2016.json"), now=NOW)
    (event,) = mapped.events
    assert (event["type"], event["customer_id"], event["data"]["refund_id"]) == (
        "refund.completed", "cus_94SwL3Nnef6QCe", "re_18rMfgFzKb8aMux1MENpRk3T")
    assert_guard_events(mapped.events)


def test_charge_refunded_before_2015_with_a_plain_refund_list_and_the_customer_on_the_card() -> None:
    payload = json.loads(fixture("stripe", "charge_refunded_2016.json"))
    charge = payload["data"]["object"]
    charge["refunds"] = charge["refunds"]["data"]
    charge["card"] = {"object": "card", "customer": charge.pop("customer")}
    (event,) = stripe.to_events({}, json.dumps(payload).encode(), now=NOW).events
    assert (event["customer_id"], event["data"]["refund_id"]) == ("cus_94SwL3Nnef6QCe", "re_18rMfgFzKb8aMux1MENpRk3T")


def test_a_refund_event_names_only_its_charge() -> None:
    mapped = stripe.to_events({}, fixture("stripe", "refund_created.json"), now=NOW)
    (event,) = mapped.events
    assert (event["type"], event["customer_id"], event["data"]["refund_id"]) == (
        "refund.completed", None, "re_1Pgc72B7WZ01zgkWqPvrRrPE")
    assert mapped.order_ref == "ch_1PgafuB7WZ01zgkWXYmPNZs8"
    assert_guard_events(mapped.events)


@pytest.mark.parametrize(("status", "event_type"), [("pending", "refund.requested"), ("failed", "refund.rejected"),
                                                    ("canceled", "refund.rejected")])
def test_a_refunds_status_chooses_the_guard_event(status: str, event_type: str) -> None:
    body = fixture("stripe", "refund_created.json").replace(b'"status": "succeeded"', f'"status": "{status}"'.encode())
    assert stripe.to_events({}, body, now=NOW).events[0]["type"] == event_type


@pytest.mark.parametrize(("name", "event_type"), [("charge_dispute_created.json", "complaint.opened"),
                                                  ("charge_dispute_closed.json", "complaint.resolved")])
def test_a_dispute_is_a_complaint_on_the_charge(name: str, event_type: str) -> None:
    mapped = stripe.to_events({}, fixture("stripe", name), now=NOW)
    (event,) = mapped.events
    assert (event["type"], event["data"]["case_id"]) == (event_type, "dp_1Pgc71B7WZ01zgkWMevJiAUx")
    assert mapped.order_ref == "ch_1PgafuB7WZ01zgkWXYmPNZs8"
    assert_guard_events(mapped.events)


def test_the_customer_field_reads_the_event() -> None:
    mapped = stripe.to_events({}, fixture("stripe", "charge_refunded.json"), "data.object.billing_details.name")
    assert mapped.events[0]["customer_id"] == "Jenny Rosen" and mapped.order_ref is None


def test_an_unmapped_type_and_a_thin_event_are_ignored() -> None:
    mapped = stripe.to_events({}, SDK_PAYLOAD.encode(), now=NOW)
    assert mapped.events == () and mapped.ignored and mapped.delivery_id == "evt_test_webhook"
    thin = b'{"id": "evt_234", "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered"}'
    assert stripe.to_events({}, thin, now=NOW).ignored
    other = fixture("stripe", "refund_created.json").replace(b'"type": "refund.created"', b'"type": "plan.created"')
    mapped = stripe.to_events({}, other, now=NOW)
    assert mapped.events == () and mapped.ignored and "plan.created" in mapped.ignored
