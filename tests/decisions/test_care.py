"""`care.requested`: a recorded reroute by a notifying case tells the care team once per customer, route and
open case, through the outbox, in the decision's transaction; singles, batches, streams, threads alike."""

from __future__ import annotations

import json
import threading
from typing import Any

from guard.app import Guard
from guard.decisions.care import CLAIMS_PER_STATEMENT
from guard.decisions.service import decide, decide_batch
from guard.situation.aliases import link
from guard.situation.events import ingest_batch
from guard.storage.database import Database
from tests.conftest import event
from tests.decisions.conftest import api_client

SEND_AT = "2026-03-10T12:00:00Z"


def marketing(customer: str, campaign: str = "spring", **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer, "channel": "email", "purpose": "marketing", "send_at": SEND_AT,
            "campaign_id": campaign, **extra}


def care_messages(db: Database) -> list[dict[str, Any]]:
    """The `care.requested` bodies in the outbox, oldest first."""
    with db.raw_reads() as sql:
        rows = sql.rows("SELECT body FROM outbox WHERE type = 'care.requested' ORDER BY id")
    return [json.loads(body) for (body,) in rows]


def complaint(db: Database, customer: str, case_id: str, at: str, kind: str = "complaint.opened") -> None:
    ingest_batch(db, [event(customer, kind, at, f"{customer}-{case_id}-{kind}-{at}", case_id=case_id)])


def test_two_marketing_decisions_during_a_complaint_reroute_twice_and_tell_care_once(guard: Guard):
    complaint(guard.db, "angry", "K-1", "2026-03-08T09:00:00Z")
    first = decide(guard.db, guard.evaluator, marketing("angry", "spring"))
    second = decide(guard.db, guard.evaluator, marketing("angry", "summer"))
    assert (first["outcome"], first["route"], second["outcome"], second["route"]) == (
        "reroute", "care", "reroute", "care")
    [message] = care_messages(guard.db)
    assert message["type"] == "care.requested"
    assert message["data"] == {
        "customer_id": "angry", "route": "care", "rule_id": "care-first",
        "explanation": first["reasons"][0]["explanation"],
        "case": {"kind": "complaint", "id": "K-1", "opened_at": "2026-03-08T09:00:00Z"},
        "decision_id": first["decision_id"], "campaign_id": "spring"}
    assert "K-1" in message["data"]["explanation"]


def test_a_second_open_case_is_a_second_message_and_the_first_is_not_told_again(guard: Guard):
    complaint(guard.db, "twice", "K-1", "2026-03-01T09:00:00Z")
    decide(guard.db, guard.evaluator, marketing("twice"))
    complaint(guard.db, "twice", "K-2", "2026-03-09T09:00:00Z")
    later = decide(guard.db, guard.evaluator, marketing("twice", "summer"))
    decide(guard.db, guard.evaluator, marketing("twice", "autumn"))
    cases = [m["data"]["case"]["id"] for m in care_messages(guard.db)]
    assert cases == ["K-1", "K-2"]
    assert care_messages(guard.db)[1]["data"]["decision_id"] == later["decision_id"]


def test_a_complaint_closed_and_another_opened_is_a_second_message(guard: Guard):
    complaint(guard.db, "again", "K-1", "2026-03-01T09:00:00Z")
    decide(guard.db, guard.evaluator, marketing("again") | {"send_at": "2026-03-02T09:00:00Z"})
    complaint(guard.db, "again", "K-1", "2026-03-03T09:00:00Z", "complaint.resolved")
    complaint(guard.db, "again", "K-9", "2026-03-04T09:00:00Z")
    decide(guard.db, guard.evaluator, marketing("again"))
    assert [m["data"]["case"]["id"] for m in care_messages(guard.db)] == ["K-1", "K-9"]


def test_a_reopened_complaint_is_a_new_open_period_and_tells_care_again(guard: Guard):
    complaint(guard.db, "reopen", "K-1", "2026-03-01T09:00:00Z")
    decide(guard.db, guard.evaluator, marketing("reopen") | {"send_at": "2026-03-02T09:00:00Z"})
    complaint(guard.db, "reopen", "K-1", "2026-03-03T09:00:00Z", "complaint.resolved")
    complaint(guard.db, "reopen", "K-1", "2026-03-05T09:00:00Z", "complaint.reopened")
    decide(guard.db, guard.evaluator, marketing("reopen"))
    decide(guard.db, guard.evaluator, marketing("reopen", "summer"))
    assert [m["data"]["case"]["opened_at"] for m in care_messages(guard.db)] == [
        "2026-03-01T09:00:00Z", "2026-03-05T09:00:00Z"]


def test_each_route_is_told_once(guard: Guard):
    ingest_batch(guard.db, [event("loyal", "profile.updated", "2020-01-01T00:00:00Z", customer_since="2019-01-01")])
    complaint(guard.db, "loyal", "K-1", "2026-03-08T09:00:00Z")
    answer = decide(guard.db, guard.evaluator, marketing("loyal"))
    decide(guard.db, guard.evaluator, marketing("loyal", "summer"))
    assert answer["route"] == "care-priority"
    assert [m["data"]["route"] for m in care_messages(guard.db)] == ["care-priority"]


def test_a_batch_of_ten_campaigns_for_one_customer_tells_care_once(guard: Guard):
    complaint(guard.db, "angry", "K-1", "2026-03-08T09:00:00Z")
    complaint(guard.db, "other", "K-5", "2026-03-08T09:00:00Z")
    requests = [marketing("angry", f"campaign-{n}") for n in range(10)] + [marketing("calm"), marketing("other")]
    answers = decide_batch(guard.db, guard.evaluator, requests)
    assert [a["outcome"] for a in answers] == ["reroute"] * 10 + ["allow", "reroute"]
    messages = care_messages(guard.db)
    assert [(m["data"]["customer_id"], m["data"]["campaign_id"]) for m in messages] == [
        ("angry", "campaign-0"), ("other", "spring")]
    assert messages[0]["data"]["decision_id"] == answers[0]["decision_id"]


def test_a_stream_of_decision_lines_tells_care_once(guard: Guard):
    complaint(guard.db, "angry", "K-1", "2026-03-08T09:00:00Z")
    client = api_client(guard)
    lines = "\n".join(json.dumps(marketing("angry", f"c-{n}")) for n in range(5))
    response = client.post("/v1/decisions/stream", data=lines + "\n", content_type="application/x-ndjson")
    assert response.status_code == 200, response.get_data(as_text=True)
    outcomes = [json.loads(line)["outcome"] for line in response.get_data(as_text=True).splitlines() if line]
    assert outcomes == ["reroute"] * 5
    assert len(care_messages(guard.db)) == 1


def test_dry_runs_tell_nobody(guard: Guard):
    complaint(guard.db, "angry", "K-1", "2026-03-08T09:00:00Z")
    assert decide(guard.db, guard.evaluator, marketing("angry", dry_run=True))["outcome"] == "reroute"
    decide_batch(guard.db, guard.evaluator, [marketing("angry", f"c-{n}", dry_run=True) for n in range(3)])
    assert care_messages(guard.db) == []
    decide(guard.db, guard.evaluator, marketing("angry"))
    assert len(care_messages(guard.db)) == 1


def test_an_idempotent_repeat_tells_nobody_again(guard: Guard):
    complaint(guard.db, "angry", "K-1", "2026-03-08T09:00:00Z")
    first = decide(guard.db, guard.evaluator, marketing("angry", idempotency_key="k-1"))
    again = decide(guard.db, guard.evaluator, marketing("angry", idempotency_key="k-1"))
    assert again["decision_id"] == first["decision_id"]
    assert len(care_messages(guard.db)) == 1


def test_aliases_of_one_customer_share_the_once(guard: Guard):
    with guard.db.transaction() as session:
        link(session, "cust-42", ["shop-42"])
    complaint(guard.db, "cust-42", "K-1", "2026-03-08T09:00:00Z")
    assert decide(guard.db, guard.evaluator, marketing("shop-42"))["outcome"] == "reroute"
    assert decide(guard.db, guard.evaluator, marketing("cust-42"))["outcome"] == "reroute"
    [message] = care_messages(guard.db)
    assert message["data"]["customer_id"] == "shop-42"  # as the decision was asked


def test_concurrent_decisions_from_threads_tell_care_once(committed_guard: Guard):
    db = committed_guard.db
    complaint(db, "busy", "K-1", "2026-03-08T09:00:00Z")
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        # Half single decisions (group-committed), half batches of two: separate transactions racing.
        if n % 2:
            got = [decide(db, committed_guard.evaluator, marketing("busy", f"c-{n}"))]
        else:
            got = decide_batch(db, committed_guard.evaluator, [marketing("busy", f"c-{n}"), marketing("busy")])
        with lock:
            answers.extend(got)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 24 and {a["outcome"] for a in answers} == {"reroute"}
    [message] = care_messages(db)
    assert message["data"]["decision_id"] in {a["decision_id"] for a in answers}
    with db.raw_reads() as sql:
        assert sql.rows("SELECT count(*) FROM care_notifications") == [(1,)]


def test_a_campaign_chunk_of_customers_with_complaints_tells_care_once_each_in_order(guard: Guard):
    count = CLAIMS_PER_STATEMENT * 2 + 7  # claimed over several statements
    ingest_batch(guard.db, [event(f"c-{n}", "complaint.opened", "2026-03-08T09:00:00Z", f"open-{n}", case_id=f"K-{n}")
                            for n in range(count)])
    customers = [f"c-{n}" for n in reversed(range(count))]
    answers = decide_batch(guard.db, guard.evaluator, [marketing(c) for c in customers] * 2)
    assert {a["outcome"] for a in answers} == {"reroute"}
    messages = care_messages(guard.db)
    assert [m["data"]["customer_id"] for m in messages] == customers
    assert [m["data"]["decision_id"] for m in messages] == [a["decision_id"] for a in answers[:count]]
    assert all(m["data"]["case"]["id"] == f"K-{m['data']['customer_id'][2:]}" for m in messages)
