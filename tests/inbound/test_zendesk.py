"""Zendesk: timestamped signature over timestamp + body, and ticket events mapped to complaint events."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from guard.inbound import KINDS, InvalidSignature, zendesk
from tests.inbound.conftest import assert_guard_events, fixture

NOW = datetime(2025, 1, 8, 10, 12, 8, tzinfo=UTC)


def _headers(secret: str, body: bytes, at: datetime = NOW) -> dict[str, str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest())
    return {"X-Zendesk-Webhook-Signature": signature.decode(), "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Id": "01GK8E6BKWMJZD2T8Y5AXJQMG5"}


def test_registered() -> None:
    assert KINDS["zendesk"] is zendesk


def test_a_signature_over_timestamp_and_body_verifies(secret: str) -> None:
    body = fixture("zendesk", "ticket_created.json")
    zendesk.verify(_headers(secret, body), body, secret, NOW)


@pytest.mark.parametrize("case", ["no signature", "no timestamp", "bad timestamp", "wrong secret",
                                  "body only", "other timestamp", "stale"])
def test_a_bad_or_stale_signature_is_refused(secret: str, case: str) -> None:
    body = fixture("zendesk", "ticket_created.json")
    good = _headers(secret, body)
    body_only = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "no signature": {**good, "X-Zendesk-Webhook-Signature": ""},
        "no timestamp": {"X-Zendesk-Webhook-Signature": good["X-Zendesk-Webhook-Signature"]},
        "bad timestamp": {**good, "X-Zendesk-Webhook-Signature-Timestamp": "yesterday"},
        "wrong secret": _headers("other-secret", body),
        # Shopify's scheme (body alone) must not pass for Zendesk's.
        "body only": {**good, "X-Zendesk-Webhook-Signature": body_only},
        # The signature binds the timestamp: moving it breaks the signature.
        "other timestamp": {**good, "X-Zendesk-Webhook-Signature-Timestamp": "2025-01-08T10:12:09Z"},
        "stale": _headers(secret, body, NOW - timedelta(minutes=6)),
    }[case]
    with pytest.raises(InvalidSignature):
        zendesk.verify(headers, body, secret, NOW)


def test_ticket_created_opens_a_complaint_of_the_requester() -> None:
    mapped = zendesk.to_events({}, fixture("zendesk", "ticket_created.json"), now=NOW)
    assert mapped.delivery_id == "cbe4028c-7239-495d-b020-f22348516046" and mapped.order_ref is None
    assert mapped.events == ({
        "event_id": "zendesk-cbe4028c-7239-495d-b020-f22348516046",
        "customer_id": "8447388090494",
        "type": "complaint.opened",
        # Zendesk's nanoseconds are cut to microseconds, the instant kept.
        "occurred_at": "2025-01-08T10:12:07.672717+00:00",
        "data": {"case_id": "5158"},
    },)
    assert_guard_events(mapped.events)


@pytest.mark.parametrize(("current", "previous", "event_type"), [
    ("SOLVED", "OPEN", "complaint.resolved"),
    ("CLOSED", "SOLVED", "complaint.resolved"),
    ("OPEN", "SOLVED", "complaint.reopened"),
])
def test_a_status_change_settles_or_reopens_the_complaint(current: str, previous: str, event_type: str) -> None:
    body = fixture("zendesk", "ticket_status_changed.json").replace(
        b'"current": "SOLVED"', f'"current": "{current}"'.encode()).replace(
        b'"previous": "OPEN"', f'"previous": "{previous}"'.encode())
    (event,) = zendesk.to_events({}, body, now=NOW).events
    assert (event["type"], event["customer_id"], event["data"]) == (event_type, "8447388090494", {"case_id": "5158"})
    assert_guard_events((event,))


def test_a_status_change_that_neither_settles_nor_reopens_is_ignored() -> None:
    body = fixture("zendesk", "ticket_status_changed.json").replace(b'"current": "SOLVED"', b'"current": "PENDING"')
    mapped = zendesk.to_events({}, body, now=NOW)
    assert mapped.events == () and mapped.ignored and mapped.delivery_id


def test_the_customer_field_picks_another_reference() -> None:
    mapped = zendesk.to_events({}, fixture("zendesk", "ticket_created.json"), "detail.organization_id", NOW)
    assert mapped.events[0]["customer_id"] == "8447346622462"


def test_other_events_and_trigger_bodies_are_ignored() -> None:
    other = fixture("zendesk", "ticket_created.json").replace(b"ticket.created", b"ticket.priority_changed")
    assert "ticket.priority_changed" in (zendesk.to_events({}, other, now=NOW).ignored or "")
    assert zendesk.to_events({}, b'{"ticket_id": "19403", "status": "Solved"}', now=NOW).ignored
