"""Retention and erasure never forget a "no": a purge keeps every decision as it was, an erased customer who
withdrew consent is still refused marketing when their id comes back, and nothing personal is left behind."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from guard.audit.retention import erase_customer, purge
from guard.audit.verify import verify
from guard.core.timeutil import iso, utcnow
from guard.decisions.service import decide, decide_batch
from guard.situation.events import ingest_batch
from guard.storage.tables.situation import Event


def _event(event_id: str, customer: str, type_: str, occurred_at: datetime, **data: Any) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": type_, "occurred_at": iso(occurred_at),
            "data": data}


def _answers(guard: Any, customers: list[str], send_at: datetime) -> dict[tuple[str, str, str], Any]:
    """Dry-run answers for a fixed set of messages, without what differs between two calls."""
    out = {}
    for customer in customers:
        for channel, purpose, products in (("email", "marketing", ["P-1"]), ("sms", "marketing", []),
                                           ("email", "survey", [])):
            answer = decide(guard.db, guard.evaluator, {
                "customer_id": customer, "channel": channel, "purpose": purpose, "product_ids": products,
                "send_at": iso(send_at), "dry_run": True})
            out[(customer, channel, purpose)] = (answer["outcome"], answer["route"], answer["defer_until"],
                                                 answer["reasons"])
    return out


def _ok(guard: Any) -> None:
    with guard.db.sessions() as session:
        report = verify(session)
    assert report.ok, report.problems


def test_a_purge_later_than_every_event_changes_no_decision(live_guard):
    now = utcnow()
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    ingest_batch(live_guard.db, [
        _event("w1", "cu-withdrawn", "consent.withdrawn", days(200), channel="email"),
        _event("w2", "cu-withdrawn", "consent.withdrawn", days(150), channel="sms"),
        _event("w3", "cu-withdrawn", "consent.given", days(120), channel="sms"),
        _event("k1", "cu-complaint", "complaint.opened", days(120), case_id="K-1"),
        _event("r1", "cu-refund", "refund.requested", days(100), refund_id="R-1"),
        _event("p1", "cu-purchase", "purchase.completed", days(10), order_id="O-1", product_ids=["P-1"]),
        _event("t1", "cu-timezone", "profile.updated", days(300), timezone="Asia/Tokyo",
               customer_since="2019-01-01"),
        _event("t2", "cu-timezone", "profile.updated", days(200), customer_since="2018-06-01"),
        _event("o1", "cu-resolved", "complaint.opened", days(300), case_id="K-old"),
        _event("o2", "cu-resolved", "complaint.resolved", days(290), case_id="K-old"),
        _event("o3", "cu-resolved", "complaint.opened", days(200), case_id="K-2"),
        _event("o4", "cu-resolved", "complaint.resolved", days(150), case_id="K-2"),
        _event("o5", "cu-complaint", "complaint.opened", days(250), case_id="K-0"),
        _event("o6", "cu-complaint", "complaint.resolved", days(240), case_id="K-0"),
        _event("o7", "cu-complaint", "complaint.opened", days(230), case_id="K-00"),
        _event("o8", "cu-complaint", "complaint.resolved", days(220), case_id="K-00"),
    ])
    for ago in (3, 2, 1):  # three marketing messages this week: the fourth waits (frequency cap)
        decide(live_guard.db, live_guard.evaluator, {"customer_id": "cu-capped", "channel": "email",
                                                     "purpose": "marketing", "send_at": iso(days(ago))})
    customers = ["cu-withdrawn", "cu-complaint", "cu-refund", "cu-purchase", "cu-timezone", "cu-resolved",
                 "cu-capped", "cu-nobody"]
    send_at = (now + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)  # noon in Tokyo
    before = _answers(live_guard, customers, send_at)
    assert before[("cu-withdrawn", "email", "marketing")][0] == "block"
    assert before[("cu-complaint", "email", "marketing")][1] == "care"
    # Each customer's state shows in the answers, so losing it would change them.
    assert before[("cu-timezone", "sms", "marketing")][0] == "allow"  # noon in Tokyo
    assert before[("cu-nobody", "sms", "marketing")][0] == "defer"  # 03:00 UTC: quiet hours
    assert before[("cu-refund", "email", "marketing")][1] == "care"
    assert before[("cu-purchase", "email", "marketing")][0] == "block"
    assert before[("cu-capped", "email", "marketing")][0] == "defer"
    assert before[("cu-complaint", "email", "survey")][0] == "block"
    assert before[("cu-resolved", "email", "marketing")][0] == "allow"

    report = purge(live_guard.db, now + timedelta(days=1))

    assert _answers(live_guard, customers, send_at) == before
    # What no decision depends on went: the events of resolved cases older than the last of their kind.
    with live_guard.db.sessions() as session:
        left = set(session.scalars(select(Event.event_id)))
    assert left == {"w1", "w2", "w3", "k1", "o7", "o8", "r1", "p1", "t1", "t2", "o3", "o4"}
    assert report["events"] == 4 and report["kept_events"] == 12 and report["kept_decisions"] == 3
    _ok(live_guard)
    # A second purge finds nothing older than its date but what the first one kept, and keeps it again.
    again = purge(live_guard.db, now + timedelta(days=2))
    assert again["events"] == 0 and again["kept_events"] == 12
    assert _answers(live_guard, customers, send_at) == before
    _ok(live_guard)


def test_a_second_erasure_keeps_the_marker_once_and_a_purge_keeps_the_chain(live_guard):
    ingest_batch(live_guard.db, [_event("x1", "cu-x", "consent.withdrawn", utcnow() - timedelta(days=5),
                                        channel="email")])
    assert erase_customer(live_guard.db, "cu-x")["suppressions"] == 1
    ingest_batch(live_guard.db, [_event("x2", "cu-x", "page.viewed", utcnow())])
    assert erase_customer(live_guard.db, "cu-x")["suppressions"] == 0
    with live_guard.db.sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM suppressions")) == 1
        assert session.scalar(select(func.count()).select_from(Event)) == 0
    _ok(live_guard)
    purge(live_guard.db, utcnow() + timedelta(days=1))
    _ok(live_guard)
    with live_guard.db.sessions() as session:  # the erasure that vouches for the marker is chained again
        assert session.scalar(text("SELECT count(*) FROM audit_records WHERE kind = 'erasure'")) == 1
    answer = decide(live_guard.db, live_guard.evaluator, {"customer_id": "cu-x", "channel": "email",
                                                          "purpose": "marketing", "dry_run": True})
    assert answer["outcome"] == "block"


def test_a_removed_marker_or_an_altered_scrubbed_decision_is_named(live_guard):
    ingest_batch(live_guard.db, [_event("y1", "cu-y", "consent.withdrawn", utcnow() - timedelta(days=5),
                                        channel="email")])
    decided = decide(live_guard.db, live_guard.evaluator, {"customer_id": "cu-y", "channel": "email",
                                                           "purpose": "marketing", "idempotency_key": "y-1"})
    erasure = erase_customer(live_guard.db, "cu-y")
    _ok(live_guard)
    with live_guard.db.transaction() as session:
        session.execute(text("UPDATE decisions SET outcome = 'allow' WHERE decision_id = :d"),
                        {"d": decided["decision_id"]})
    with live_guard.db.sessions() as session:
        problem = verify(session).problems[0]
    assert (problem.kind, problem.record) == ("altered", f"decision {decided['decision_id']}")
    with live_guard.db.transaction() as session:
        session.execute(text("UPDATE decisions SET outcome = 'block' WHERE decision_id = :d"),
                        {"d": decided["decision_id"]})
        session.execute(text("DELETE FROM suppressions"))
    with live_guard.db.sessions() as session:
        problem = verify(session).problems[0]
    assert erasure["suppressions"] == 1
    _names_the_unvouched_erasure(problem)


def test_a_marker_removed_after_a_purge_is_still_named(live_guard):
    ingest_batch(live_guard.db, [_event("z1", "cu-z", "consent.withdrawn", utcnow() - timedelta(days=5),
                                        channel="sms")])
    erase_customer(live_guard.db, "cu-z")
    purge(live_guard.db, utcnow() + timedelta(days=1))
    _ok(live_guard)
    with live_guard.db.transaction() as session:
        session.execute(text("DELETE FROM suppressions"))
    with live_guard.db.sessions() as session:
        problem = verify(session).problems[0]
    _names_the_unvouched_erasure(problem)


def _names_the_unvouched_erasure(problem) -> None:
    """Without its markers the erasure's account no longer matches: the first record it vouched for is named,
    an event it deleted (or, when none is left in the chain, the erasure itself)."""
    if problem.record.startswith("erasure "):
        assert problem.kind == "altered"
    else:
        assert problem.kind == "removed" and problem.record.startswith("event ")
        assert "no chained record vouches" in problem.message


def test_a_batch_finds_the_markers_whether_there_are_fewer_or_more_of_them_than_its_customers(live_guard):
    withdrawn = utcnow() - timedelta(days=5)
    erased = [f"cu-b{n}" for n in range(3)]
    ingest_batch(live_guard.db, [_event(f"b{n}", c, "consent.withdrawn", withdrawn, channel="email")
                                 for n, c in enumerate(erased)])
    message = {"channel": "email", "purpose": "marketing", "send_at": iso(utcnow())}

    def outcomes(customers: list[str]) -> list[str]:
        return [r["outcome"] for r in decide_batch(live_guard.db, live_guard.evaluator,
                                                   [{**message, "customer_id": c} for c in customers])]

    erase_customer(live_guard.db, erased[0])
    assert outcomes([erased[0], "cu-fresh-1", "cu-fresh-2"]) == ["block", "allow", "allow"]  # markers read whole
    erase_customer(live_guard.db, erased[1])
    erase_customer(live_guard.db, erased[2])
    assert outcomes(["cu-fresh-3", erased[2]]) == ["allow", "block"]  # more markers than customers: looked up


def test_a_purge_keeps_the_care_teams_once_even_for_a_case_whose_events_it_removes(live_guard):
    """A claim names its case by a one-way digest, and a purged event can be received again (its id is free):
    the claim is what keeps the care team from being told twice about the same open period."""
    now = utcnow()
    opened = _event("k1-open", "cu-care", "complaint.opened", now - timedelta(days=200), case_id="K-1")
    ingest_batch(live_guard.db, [opened])
    marketing = {"customer_id": "cu-care", "channel": "email", "purpose": "marketing"}
    assert decide(live_guard.db, live_guard.evaluator, marketing)["route"] == "care"
    ingest_batch(live_guard.db, [  # K-1 closes; a later complaint is the latest of each type
        _event("k1-close", "cu-care", "complaint.resolved", now - timedelta(days=190), case_id="K-1"),
        _event("k2-open", "cu-care", "complaint.opened", now - timedelta(days=180), case_id="K-2"),
        _event("k2-close", "cu-care", "complaint.resolved", now - timedelta(days=170), case_id="K-2")])

    report = purge(live_guard.db, now + timedelta(days=1))

    with live_guard.db.sessions() as session:
        left = set(session.scalars(select(Event.event_id)))
        assert session.scalar(text("SELECT count(*) FROM care_notifications")) == 1
    assert left == {"k2-open", "k2-close"} and report["events"] == 2
    _ok(live_guard)
    # The vendor sends the old complaint again: the same case, the same open period, open again.
    assert ingest_batch(live_guard.db, [opened])[0].status == "created"
    assert decide(live_guard.db, live_guard.evaluator, marketing)["route"] == "care"
    with live_guard.db.raw_reads() as sql:
        told = sql.rows("SELECT count(*) FROM outbox WHERE type = 'care.requested'")[0][0]
    assert told == 1
