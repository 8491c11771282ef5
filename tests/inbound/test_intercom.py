"""Intercom: sha1 HMAC signature, and conversation notifications as complaint events (API 1.x and 2.x shapes)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from guard.inbound import KINDS, InvalidSignature, intercom
from tests.inbound.conftest import assert_guard_events, fixture


def _signed(secret: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def test_registered() -> None:
    assert KINDS["intercom"] is intercom


def test_the_signature_covers_the_raw_body(secret: str) -> None:
    body = fixture("intercom", "conversation_user_created.json")
    intercom.verify(_signed(secret, body), body, secret)
    for headers in ({}, _signed("other", body), {"X-Hub-Signature": "sha256=" + "0" * 64}):
        with pytest.raises(InvalidSignature):
            intercom.verify(headers, body, secret)


def test_a_conversation_started_by_a_user_opens_a_complaint() -> None:
    mapped = intercom.to_events({}, fixture("intercom", "conversation_user_created.json"))
    assert mapped.delivery_id == "notif_123456-56465-546546"
    assert mapped.events == ({"event_id": "intercom-notif_123456-56465-546546",
                              "customer_id": "540f1de7112d3d1d51001637", "type": "complaint.opened",
                              "occurred_at": "2014-09-10T07:48:13+00:00", "data": {"case_id": "123456789"}},)
    assert_guard_events(mapped.events)


@pytest.mark.parametrize(("topic", "event_type"), [("conversation.admin.closed", "complaint.resolved"),
                                                   ("conversation.admin.opened", "complaint.reopened")])
def test_closing_and_reopening_in_the_current_shape(topic: str, event_type: str) -> None:
    payload = json.loads(fixture("intercom", "conversation_user_created.json"))
    payload["topic"] = topic
    item = payload["data"]["item"]
    user = item.pop("user")
    item["contacts"] = {"type": "contact.list", "contacts": [{"type": "contact", "id": user["id"]}]}
    (event,) = intercom.to_events({}, json.dumps(payload).encode()).events
    assert (event["type"], event["customer_id"], event["data"]["case_id"]) == (
        event_type, "540f1de7112d3d1d51001637", "123456789")


def test_the_customer_field_may_index_a_list() -> None:
    payload = json.loads(fixture("intercom", "conversation_user_created.json"))
    payload["data"]["item"]["contacts"] = {"contacts": [{"id": "c1", "external_id": "cust-42"}]}
    mapped = intercom.to_events({}, json.dumps(payload).encode(), "data.item.contacts.contacts.0.external_id")
    assert mapped.events[0]["customer_id"] == "cust-42"


def test_other_topics_are_ignored() -> None:
    body = fixture("intercom", "conversation_user_created.json").replace(b"conversation.user.created",
                                                                           b"conversation.admin.replied")
    assert "conversation.admin.replied" in (intercom.to_events({}, body).ignored or "")
