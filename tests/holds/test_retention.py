"""A purge and holds: settled holds older than its date go, waiting holds stay with what they need (the events
of their case, the decision that made them) and are released afterwards as if no purge had run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from guard.app import Guard
from guard.audit.retention import purge
from guard.audit.verify import verify
from guard.core.timeutil import utcnow
from guard.holds.worker import HoldWorker
from tests.holds.conftest import Clock, at, hold_rows, outbox, post_event, survey


def _hold(client: Any, customer: str) -> dict[str, Any]:
    answer = client.post("/v1/decisions", json=survey(customer)).get_json()
    assert answer["outcome"] == "hold", answer
    return answer


def _verified(guard: Guard) -> None:
    with guard.db.sessions() as session:
        report = verify(session)
    assert report.ok, report.problems


def test_settled_holds_go_and_a_waiting_one_stays_and_is_released_afterwards(client: Any, guard: Guard,
                                                                             clock: Clock):
    for customer, case in (("ann", "C-1"), ("bob", "C-2"), ("cat", "C-3")):
        post_event(client, customer, "complaint.opened", at(-10), case_id=case)
    waiting, cancelled, _ = (_hold(client, c) for c in ("ann", "bob", "cat"))
    assert client.delete(f"/v1/holds/{cancelled['hold']['hold_id']}").status_code == 200
    turns = HoldWorker(guard.db, lambda: guard.evaluator, now=clock)
    post_event(client, "cat", "complaint.resolved", at(-5), case_id="C-3")
    assert turns.turn() == 1
    assert [r["status"] for r in hold_rows(guard.db)] == ["waiting", "cancelled", "released"]

    report = purge(guard.db, utcnow() + timedelta(days=1))

    assert report["holds"] == 2
    assert [(r["hold_id"], r["status"]) for r in hold_rows(guard.db)] == [(waiting["hold"]["hold_id"], "waiting")]
    # The decision that made the waiting hold is kept (chained again); those of the settled ones went.
    assert client.get(f"/v1/decisions/{waiting['decision_id']}").get_json()["hold"] == waiting["hold"]
    assert client.get(f"/v1/decisions/{cancelled['decision_id']}").status_code == 404
    assert report["kept_decisions"] == 1
    _verified(guard)
    post_event(client, "ann", "complaint.resolved", at(0), case_id="C-1")
    clock.later(days=3, hours=1)
    assert turns.turn() == 1
    assert hold_rows(guard.db)[0]["status"] == "released"
    [message] = [m for m in outbox(guard.db, "hold.released") if m["data"]["customer_id"] == "ann"]
    assert message["data"]["held_decision_id"] == waiting["decision_id"]
    _verified(guard)


def test_a_hold_waiting_on_a_case_closed_before_every_window_is_still_released(client: Any, guard: Guard,
                                                                               clock: Clock):
    """The close arrives late, dated long ago, and the purge runs before the worker's next turn: without the
    case's events the hold would find its case never closed, and wait until it expired."""
    post_event(client, "dan", "complaint.opened", at(-200), case_id="K-1")
    held = _hold(client, "dan")
    # A later complaint is the latest of each type: nothing else keeps K-1's events.
    post_event(client, "dan", "complaint.opened", at(-150), case_id="K-2")
    post_event(client, "dan", "complaint.resolved", at(-140), case_id="K-2")
    post_event(client, "dan", "complaint.resolved", at(-160), case_id="K-1")

    report = purge(guard.db, utcnow() + timedelta(days=1))

    assert report["events"] == 0 and report["kept_events"] == 4
    _verified(guard)
    assert HoldWorker(guard.db, lambda: guard.evaluator, now=clock).turn() == 1
    [row] = hold_rows(guard.db)
    assert row["status"] == "released" and row["hold_id"] == held["hold"]["hold_id"]
    _verified(guard)


def test_a_settled_hold_stays_until_its_settlement_is_older_than_the_date(client: Any, guard: Guard):
    post_event(client, "eve", "complaint.opened", at(-10), case_id="C-5")
    post_event(client, "fay", "complaint.opened", at(-10), case_id="C-6")
    old, recent = (_hold(client, c)["hold"]["hold_id"] for c in ("eve", "fay"))
    for hold_id in (old, recent):
        assert client.delete(f"/v1/holds/{hold_id}").status_code == 200
    with guard.db.raw_transaction() as sql:
        sql.run("UPDATE holds SET updated_at = ? WHERE hold_id = ?", (sql.time(utcnow() - timedelta(days=30)), old))

    report = purge(guard.db, utcnow() - timedelta(days=1))

    assert report["holds"] == 1
    assert [r["hold_id"] for r in hold_rows(guard.db)] == [recent]
