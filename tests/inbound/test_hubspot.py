"""HubSpot: the documented v1 example, v3 signatures over the request line, and batched opt-out changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from guard.inbound import KINDS, InvalidSignature, hubspot
from tests.inbound.conftest import assert_guard_events, fixture

DOCS_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOCS_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://guard.example.com/v1/inbound/crm?src=hubspot"


def _v3(secret: str, body: bytes, at: datetime = NOW, url: str = URL) -> dict[str, str]:
    stamp = str(int(at.timestamp() * 1000))
    digest = hmac.new(secret.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256).digest()
    return {":method": "POST", ":url": url, "X-HubSpot-Request-Timestamp": stamp,
            "X-HubSpot-Signature-v3": base64.b64encode(digest).decode()}


def test_registered() -> None:
    assert KINDS["hubspot"] is hubspot


def test_hubspots_documented_v1_example_verifies() -> None:
    body = fixture("hubspot", "contact_creation_v1_example.json")
    hubspot.verify({"X-HubSpot-Signature-Version": "v1", "X-HubSpot-Signature": DOCS_V1}, body, DOCS_SECRET)
    with pytest.raises(InvalidSignature):
        hubspot.verify({"X-HubSpot-Signature-Version": "v1", "X-HubSpot-Signature": DOCS_V1}, body + b" ", DOCS_SECRET)


def test_a_v3_signature_over_method_url_body_and_timestamp_verifies(secret: str) -> None:
    body = fixture("hubspot", "contact_optout.json")
    hubspot.verify(_v3(secret, body), body, secret, NOW)
    # HubSpot signs the URI with %3A, %2F ... decoded.
    encoded = "https://guard.example.com/v1/inbound/crm?next=%2Fhome"
    signed = _v3(secret, body, url="https://guard.example.com/v1/inbound/crm?next=/home")
    hubspot.verify({**signed, ":url": encoded}, body, secret, NOW)


@pytest.mark.parametrize("case", ["wrong secret", "other url", "stale", "no timestamp", "v1 when the url is known"])
def test_a_bad_or_stale_v3_signature_is_refused(secret: str, case: str) -> None:
    body = fixture("hubspot", "contact_optout.json")
    good = _v3(secret, body)
    headers = {
        "wrong secret": _v3("other", body),
        "other url": {**good, ":url": "https://guard.example.com/v1/inbound/other"},
        "stale": _v3(secret, body, NOW - timedelta(minutes=6)),
        "no timestamp": {k: v for k, v in good.items() if k != "X-HubSpot-Request-Timestamp"},
        "v1 when the url is known": {":url": URL, "X-HubSpot-Signature-Version": "v1",
                                     "X-HubSpot-Signature": hashlib.sha256(secret.encode() + body).hexdigest()},
    }[case]
    with pytest.raises(InvalidSignature):
        hubspot.verify(headers, body, secret, NOW)


def test_a_batch_of_opt_out_changes_is_one_consent_event_each() -> None:
    mapped = hubspot.to_events({}, fixture("hubspot", "contact_optout.json"), now=NOW)
    assert [(e["event_id"], e["type"], e["customer_id"], e["data"]["channel"]) for e in mapped.events] == [
        ("hubspot-3816279340", "consent.withdrawn", "123", "email"),
        ("hubspot-3816279341", "consent.given", "456", "email"),
    ]
    assert mapped.events[0]["occurred_at"] == "2019-09-05T13:11:44+00:00"
    assert_guard_events(mapped.events)


def test_events_without_consent_meaning_are_ignored() -> None:
    mapped = hubspot.to_events({}, fixture("hubspot", "contact_creation_v1_example.json"), now=NOW)
    assert mapped.events == () and mapped.ignored
    assert hubspot.to_events({}, b'{"not": "a batch"}').ignored
