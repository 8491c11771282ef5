"""The decide use case end to end on the test database (no HTTP)."""

from guard.decisions.service import decide
from guard.situation.events import ingest_batch
from tests.conftest import event


def test_open_complaint_reroutes_marketing_and_is_audited(guard):
    ingest_batch(guard.db, [event("c1", "complaint.opened", "2026-01-01T00:00:00Z", case_id="K1")])
    answer = decide(guard.db, guard.evaluator, {"customer_id": "c1", "channel": "email", "purpose": "marketing",
                                                "send_at": "2026-01-05T00:00:00Z"})
    assert answer["outcome"] == "reroute"
    assert answer["route"] == "care"
    assert answer["reasons"][0]["rule_id"] == "care-first"
    assert "K1" in answer["reasons"][0]["explanation"]
    assert "4 days" in answer["reasons"][0]["explanation"]
