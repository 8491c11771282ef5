"""Erasing a customer the care team was told about: their `care_notifications` rows go, and the outbox messages
about them stay (a delivery may still be due) without the person: id pseudonymised, explanation and case id gone;
the chain still verifies and messages about others are untouched."""

from __future__ import annotations

import json

from guard.app import Guard
from guard.audit.retention import ERASED_TEXT, erase_customer
from guard.audit.scrub import MESSAGES, scrubbed_message
from guard.audit.verify import verify
from guard.core.vocabulary import WEBHOOK_EVENTS
from guard.decisions.service import decide
from guard.ledger.digests import pseudonym
from guard.situation.events import ingest_batch
from tests.conftest import event

SEND_AT = "2026-03-10T12:00:00Z"


def _marketing(customer: str) -> dict[str, str]:
    return {"customer_id": customer, "channel": "email", "purpose": "marketing", "send_at": SEND_AT,
            "campaign_id": "spring"}


def _bodies(guard: Guard) -> list[str]:
    with guard.db.raw_reads() as sql:
        return [body for (body,) in sql.rows("SELECT body FROM outbox ORDER BY id")]


def _care_rows(guard: Guard) -> list[str]:
    with guard.db.raw_reads() as sql:
        return [c for (c,) in sql.rows("SELECT customer_id FROM care_notifications ORDER BY id")]


def test_erasure_scrubs_care_messages_and_forgets_the_once(guard: Guard):
    ingest_batch(guard.db, [event("ann_%", "complaint.opened", "2026-03-08T09:00:00Z", case_id="K-ann"),
                            event("bob", "complaint.opened", "2026-03-08T09:00:00Z", case_id="K-bob")])
    for customer in ("ann_%", "bob"):
        assert decide(guard.db, guard.evaluator, _marketing(customer))["outcome"] == "reroute"
    assert _care_rows(guard) == ["ann_%", "bob"]

    result = erase_customer(guard.db, "ann_%")

    assert (result["care_notifications_deleted"], result["outbox_messages_scrubbed"]) == (1, 1)
    assert _care_rows(guard) == ["bob"]
    ann, bob = (json.loads(body)["data"] for body in _bodies(guard))
    assert ann["customer_id"] == pseudonym("ann_%") and ann["explanation"] == ERASED_TEXT
    assert ann["case"] == {"kind": "complaint", "id": pseudonym("K-ann"), "opened_at": "2026-03-08T09:00:00Z"}
    assert "ann_%" not in _bodies(guard)[0] and "K-ann" not in _bodies(guard)[0]
    assert bob["customer_id"] == "bob" and "K-bob" in bob["explanation"] and bob["case"]["id"] == "K-bob"
    with guard.db.sessions() as session:
        report = verify(session)
    assert report.ok, report.problems


def test_a_name_that_only_looks_like_another_is_left_alone(guard: Guard):
    # LIKE wildcards in the erased id match nothing but that id: "a_c" is not "abc".
    ingest_batch(guard.db, [event("abc", "complaint.opened", "2026-03-08T09:00:00Z", case_id="K-1"),
                            event("a_c", "profile.updated", "2026-03-08T09:00:00Z", timezone="UTC")])
    decide(guard.db, guard.evaluator, _marketing("abc"))
    assert erase_customer(guard.db, "a_c")["outbox_messages_scrubbed"] == 0
    assert json.loads(_bodies(guard)[0])["data"]["customer_id"] == "abc"


def test_every_event_type_guard_emits_has_a_declared_shape_and_any_other_keeps_only_the_pseudonym():
    assert set(MESSAGES) == set(WEBHOOK_EVENTS)
    assert scrubbed_message("hold.cancelled", {"customer_id": "ann", "note": "Ann asked"}, "erased:x") == {
        "customer_id": "erased:x"}


def test_a_decision_in_a_message_keeps_what_was_decided_and_loses_the_case_and_the_explanations():
    answer = {"decision_id": "d-1", "outcome": "hold", "route": None, "defer_until": None, "rules_version": 3,
              "evaluated_at": SEND_AT, "held_from": "hold_1",
              "reasons": [{"rule_id": "no-survey", "outcome": "block", "explanation": "Complaint K-ann is open"}],
              "hold": {"hold_id": "hold_1", "expires_at": SEND_AT,
                       "waiting_for": {"kind": "complaint", "case_id": "K-ann", "then": "3d after it closes"}}}
    data = {"hold_id": "hold_1", "customer_id": "ann", "campaign_id": None, "held_decision_id": "d-0",
            "outcome": "hold", "decision_id": "d-1", "decision": answer,
            "request": {**_marketing("ann"), "attributes": {"first_name": "Ann"}, "idempotency_key": "k-ann"}}
    out = scrubbed_message("hold.ended", data, "erased:x")
    assert out["request"] == {**_marketing("erased:x"), "customer_id": "erased:x"}
    assert out["decision"] == {**answer, "reasons": [{**answer["reasons"][0], "explanation": ERASED_TEXT}],
                               "hold": {**answer["hold"], "waiting_for": {**answer["hold"]["waiting_for"],
                                                                          "case_id": pseudonym("K-ann")}}}
    assert {k: v for k, v in out.items() if k not in ("request", "decision", "customer_id")} == {
        k: v for k, v in data.items() if k not in ("request", "decision", "customer_id")}
