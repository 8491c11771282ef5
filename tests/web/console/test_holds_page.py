"""The console's customer page lists the customer's held messages."""

from __future__ import annotations

from guard.app import Guard
from guard.decisions.service import decide_batch
from guard.situation.events import ingest_batch
from tests.conftest import event
from tests.web.console.conftest import Browser


def test_customer_page_shows_held_messages(reader: Browser, console_guard: Guard):
    ingest_batch(console_guard.db, [event("cust-h", "complaint.opened", "2026-03-01T09:30:00Z", case_id="CASE-88")])
    [held] = decide_batch(console_guard.db, console_guard.evaluator, [
        {"customer_id": "cust-h", "channel": "email", "purpose": "survey", "campaign_id": "nps", "hold": True}])
    assert held["outcome"] == "hold"
    text = reader.get("/console/customers/cust-h").get_data(as_text=True)
    section = text.split("Held messages")[1].split("</section>")[0]
    assert "survey by email (nps)" in section and "<b>waiting</b>" in section
    assert "CASE-88" in section and "3d after it closes" in section
    assert held["decision_id"] in section
    timeline = text.split("Timeline")[1]
    assert "outcome-hold" in timeline
