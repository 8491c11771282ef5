"""Erasure through the API's eyes: a customer who withdrew consent and was erased is still refused marketing
when their id comes back, and none of their personal data is left in the database."""

from __future__ import annotations

import json

from sqlalchemy import text

from guard.audit.retention import erase_customer
from guard.audit.verify import verify


def _ok(guard):
    with guard.db.sessions() as session:
        report = verify(session)
    assert report.ok, report.problems


def test_an_erased_customer_who_withdrew_consent_is_still_refused_when_their_id_comes_back(api, guard):
    customer, email, key = "cust-4711", "jo.4711@example.com", "welcome-cust-4711"
    api.events(
        {"event_id": "ev-a", "customer_id": customer, "type": "consent.withdrawn",
         "occurred_at": "2026-02-01T00:00:00Z", "data": {"channel": "email"}},
        {"event_id": "ev-b", "customer_id": customer, "type": "complaint.opened",
         "occurred_at": "2026-02-02T00:00:00Z", "data": {"case_id": f"case-of-{customer}"}},
    )
    message = {"customer_id": customer, "channel": "email", "purpose": "marketing",
               "send_at": "2026-03-02T12:00:00Z"}
    first = api.decide(**message, idempotency_key=key, attributes={"email": email})
    api.decide(**{**message, "purpose": "survey"})  # an explanation naming the customer's case
    assert first["outcome"] == "block" and first["reasons"][0]["rule_id"] == "consent"

    erase_customer(guard.db, customer)
    _ok(guard)
    with guard.db.sessions() as session:
        for table in ("events", "decisions", "decision_rules", "decision_campaigns", "audit_records", "audit_erasures",
                      "suppressions", "backtest_jobs"):
            stored = json.dumps([list(map(str, row)) for row in session.execute(text(f"SELECT * FROM {table}"))])
            for secret in (customer, email, key):
                assert secret not in stored, (table, secret)
        suppressions = session.scalar(text("SELECT count(*) FROM suppressions"))
    assert suppressions == 1

    # The id comes back with new events, among them a stale re-import of an old "yes": still refused.
    api.events(
        {"event_id": "ev-c", "customer_id": customer, "type": "profile.updated",
         "occurred_at": "2026-03-01T00:00:00Z", "data": {"timezone": "Europe/Paris"}},
        {"event_id": "ev-d", "customer_id": customer, "type": "consent.given",
         "occurred_at": "2026-01-15T00:00:00Z", "data": {"channel": "email"}},
    )
    again = api.decide(**message)
    assert again["outcome"] == "block" and again["reasons"][0]["rule_id"] == "consent"
    shown = api.get(f"/v1/customers/{customer}?at=2026-03-02T12:00:00Z").get_json()
    assert {"channel": "email", "purpose": "marketing", "status": "withdrawn",
            "since": "2026-02-01T00:00:00Z"} in shown["consent"]
    assert api.decide(**{**message, "channel": "sms"})["outcome"] == "allow"  # only what they refused
    _ok(guard)

    # A later "yes" from the customer lifts it, as it would have before the erasure.
    api.events({"event_id": "ev-e", "customer_id": customer, "type": "consent.given",
                "occurred_at": "2026-03-02T00:00:00Z", "data": {"channel": "email"}})
    assert api.decide(**message)["outcome"] == "allow"
