"""Zammad: sha1 HMAC signature, and a ticket's state mapped to opened, resolved or reopened complaints."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from guard.inbound import KINDS, InvalidSignature, zammad
from tests.inbound.conftest import assert_guard_events, fixture


def _headers(secret: str, body: bytes) -> dict[str, str]:
    return {"X-Zammad-Trigger": "Guard", "X-Zammad-Delivery": "c2b7b0a5d4a0b6f3f0e1",
            "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def test_registered() -> None:
    assert KINDS["zammad"] is zammad


def test_the_signature_covers_the_raw_body(secret: str) -> None:
    body = fixture("zammad", "ticket.json")
    zammad.verify(_headers(secret, body), body, secret)
    for headers in ({}, _headers("other", body), {"X-Hub-Signature": hmac.new(secret.encode(), body,
                                                                              hashlib.sha1).hexdigest()}):
        with pytest.raises(InvalidSignature):
            zammad.verify(headers, body, secret)


def test_an_open_ticket_opens_a_complaint_of_its_customer(secret: str) -> None:
    body = fixture("zammad", "ticket.json")
    mapped = zammad.to_events(_headers(secret, body), body)
    assert mapped.delivery_id == "c2b7b0a5d4a0b6f3f0e1"
    assert mapped.events == ({"event_id": "zammad-10081-opened", "customer_id": "8", "type": "complaint.opened",
                              "occurred_at": "2020-11-13T14:34:35.282000+00:00", "data": {"case_id": "10081"}},)
    assert_guard_events(mapped.events)


def test_a_closed_ticket_resolves_and_an_open_one_closed_before_reopens() -> None:
    body = fixture("zammad", "ticket.json")
    closed = body.replace(b'"state": "open"', b'"state": "closed", "last_close_at": "2020-11-14T09:00:00.000Z"')
    (resolved,) = zammad.to_events({}, closed).events
    assert (resolved["type"], resolved["data"]["case_id"]) == ("complaint.resolved", "10081")
    reopened_body = body.replace(b'"state": "open"', b'"state": "open", "last_close_at": "2020-11-14T09:00:00Z"')
    (reopened,) = zammad.to_events({}, reopened_body).events
    assert reopened["type"] == "complaint.reopened"
    assert_guard_events((resolved, reopened))


def test_the_customer_field_picks_the_email() -> None:
    mapped = zammad.to_events({}, fixture("zammad", "ticket.json"), "ticket.customer.email")
    assert mapped.events[0]["customer_id"] == "emily@example.com"


def test_a_body_without_a_ticket_is_ignored() -> None:
    assert zammad.to_events({}, b'{"article": {}}').ignored
