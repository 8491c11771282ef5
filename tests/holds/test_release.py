"""Releasing held messages: on close + delay, at once for a late resolution, never while reopened; expiry,
cancellation, another block with a release, a block without one; restarts lose nothing and release once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from guard.app import Guard
from guard.audit.verify import verify
from guard.holds.worker import HoldWorker
from tests.conftest import event
from tests.holds.conftest import NOW, Clock, at, hold_rows, outbox, post_event, survey


def worker(guard: Guard, clock: Clock) -> HoldWorker:
    """A hold worker with no memory of any other (as after a restart)."""
    return HoldWorker(guard.db, lambda: guard.evaluator, now=clock)


def hold_survey(client: Any, customer: str, **more: Any) -> dict[str, Any]:
    answer = client.post("/v1/decisions", json=survey(customer, **more)).get_json()
    assert answer["outcome"] == "hold", answer
    return answer


def test_released_three_days_after_the_complaint_closes(client: Any, guard: Guard, clock: Clock):
    post_event(client, "ann", "complaint.opened", at(-2), case_id="C-1")
    held = hold_survey(client, "ann")
    hold_id = held["hold"]["hold_id"]
    turns = worker(guard, clock)
    assert turns.turn() == 0
    post_event(client, "ann", "complaint.resolved", at(0), case_id="C-1")
    turns.turn()
    [row] = hold_rows(guard.db)
    assert row["status"] == "waiting"
    assert row["release_at"] == NOW + timedelta(days=3)
    clock.later(days=2, hours=23)
    assert turns.turn() == 0 and hold_rows(guard.db)[0]["status"] == "waiting"
    clock.later(days=3, hours=1)
    assert turns.turn() == 1
    [row] = hold_rows(guard.db)
    assert row["status"] == "released" and row["resolution"]
    [message] = outbox(guard.db, "hold.released")
    data = message["data"]
    assert data["hold_id"] == hold_id and data["customer_id"] == "ann"
    assert data["outcome"] == "allow" and data["decision"]["outcome"] == "allow"
    assert data["decision_id"] == row["resolution"] == data["decision"]["decision_id"]
    assert data["held_decision_id"] == held["decision_id"]
    assert data["request"]["purpose"] == "survey" and "hold" not in data["request"]
    # The new decision is an ordinary recorded one, naming the hold, in the audit chain.
    record = client.get(f"/v1/decisions/{row['resolution']}").get_json()
    assert record["outcome"] == "allow" and record["held_from"] == hold_id
    assert record["request"]["held_from"] == hold_id
    with guard.db.sessions() as session:
        assert verify(session).ok
    assert turns.turn() == 0  # settled once
    assert len(outbox(guard.db, "hold.released")) == 1


def test_a_resolution_dated_days_ago_releases_at_once(client: Any, guard: Guard, clock: Clock):
    post_event(client, "bob", "complaint.opened", at(-9), case_id="C-2")
    hold_survey(client, "bob")
    turns = worker(guard, clock)
    turns.turn()
    post_event(client, "bob", "complaint.resolved", at(-5), case_id="C-2")
    assert turns.turn() == 1
    assert hold_rows(guard.db)[0]["status"] == "released"
    assert outbox(guard.db, "hold.released")[0]["data"]["outcome"] == "allow"


def test_a_reopened_case_keeps_the_message_held(client: Any, guard: Guard, clock: Clock):
    post_event(client, "cat", "complaint.opened", at(-10), case_id="C-3")
    hold_survey(client, "cat")
    turns = worker(guard, clock)
    post_event(client, "cat", "complaint.resolved", at(hours=-12), case_id="C-3")
    turns.turn()
    assert hold_rows(guard.db)[0]["release_at"] == NOW + timedelta(days=3, hours=-12)
    post_event(client, "cat", "complaint.reopened", at(hours=-6), case_id="C-3")
    turns.turn()
    assert hold_rows(guard.db)[0]["release_at"] is None
    clock.later(days=4)
    assert turns.turn() == 0
    assert hold_rows(guard.db)[0]["status"] == "waiting"
    assert outbox(guard.db) == []


def test_a_reopen_seen_only_when_due_still_keeps_it_held(client: Any, guard: Guard, clock: Clock):
    """The release instant is checked against the events again when the hold is claimed."""
    post_event(client, "dan", "complaint.opened", at(-10), case_id="C-4")
    hold_survey(client, "dan")
    turns = worker(guard, clock)
    post_event(client, "dan", "complaint.resolved", at(-1), case_id="C-4")
    turns.turn()
    with guard.db.raw_transaction() as sql:  # a reopen the event watch has not seen yet
        sql.run("INSERT INTO events (event_id, customer_id, type, occurred_at, data, content_hash, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", ("e-reopen", "dan", "complaint.reopened",
                                                 sql.time(NOW - timedelta(hours=1)), '{"case_id": "C-4"}', "x",
                                                 sql.time(NOW)))
    clock.later(days=3)
    turns._event_mark = 10**9  # it must not see the event through its watch on new event rows
    assert turns.turn() == 1
    [row] = hold_rows(guard.db)
    assert row["status"] == "waiting" and row["release_at"] is None
    assert outbox(guard.db) == []


def test_expiry(client: Any, guard: Guard, clock: Clock):
    post_event(client, "eve", "complaint.opened", at(-1), case_id="C-5")
    held = hold_survey(client, "eve", hold={"expires_at": at(days=2)})
    turns = worker(guard, clock)
    clock.later(days=1)
    assert turns.turn() == 0
    clock.later(days=2, seconds=1)
    assert turns.turn() == 1
    assert hold_rows(guard.db)[0]["status"] == "expired"
    [message] = outbox(guard.db, "hold.expired")
    assert message["data"]["hold_id"] == held["hold"]["hold_id"]
    assert message["data"]["expires_at"] == at(days=2)
    post_event(client, "eve", "complaint.resolved", at(-0.5), case_id="C-5")
    clock.later(days=5)
    assert turns.turn() == 0  # an expired hold is never released


def test_cancel(client: Any, guard: Guard, clock: Clock):
    post_event(client, "fay", "complaint.opened", at(-1), case_id="C-6")
    hold_id = hold_survey(client, "fay")["hold"]["hold_id"]
    response = client.delete(f"/v1/holds/{hold_id}")
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    again = client.delete(f"/v1/holds/{hold_id}")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "hold_not_waiting"
    assert client.delete("/v1/holds/hold_nope").status_code == 404
    post_event(client, "fay", "complaint.resolved", at(-5), case_id="C-6")
    assert worker(guard, clock).turn() == 0
    assert hold_rows(guard.db)[0]["status"] == "cancelled"
    assert outbox(guard.db) == []
    listed = client.get("/v1/holds?customer_id=fay&status=cancelled").get_json()["items"]
    assert [h["hold_id"] for h in listed] == [hold_id]
    assert client.get("/v1/holds?status=nope").status_code == 422


def test_another_block_with_a_release_keeps_it_waiting_for_that_case(client: Any, guard: Guard, clock: Clock):
    post_event(client, "gil", "complaint.opened", at(-9), case_id="C-7")
    post_event(client, "gil", "refund.requested", at(-2), refund_id="R-1")
    held = hold_survey(client, "gil")
    assert held["hold"]["waiting_for"]["kind"] == "complaint"
    turns = worker(guard, clock)
    post_event(client, "gil", "complaint.resolved", at(-5), case_id="C-7")
    assert turns.turn() == 1
    [row] = hold_rows(guard.db)
    assert row["status"] == "waiting" and row["case_id"] == "R-1" and row["release_at"] is None
    assert outbox(guard.db) == []
    listed = client.get("/v1/holds?customer_id=gil").get_json()["items"][0]
    assert listed["waiting_for"] == {"kind": "refund", "case_id": "R-1", "then": "when it closes"}
    post_event(client, "gil", "refund.completed", at(-1), refund_id="R-1")
    assert turns.turn() == 1
    assert hold_rows(guard.db)[0]["status"] == "released"
    assert [m["data"]["outcome"] for m in outbox(guard.db, "hold.released")] == ["allow"]


def test_a_block_without_release_ends_the_hold(client: Any, guard: Guard, clock: Clock):
    post_event(client, "hal", "complaint.opened", at(-9), case_id="C-8")
    hold_survey(client, "hal")
    post_event(client, "hal", "consent.withdrawn", at(-1), channel="email", purpose="survey")
    post_event(client, "hal", "complaint.resolved", at(-5), case_id="C-8")
    assert worker(guard, clock).turn() == 1
    [row] = hold_rows(guard.db)
    assert row["status"] == "ended"
    [message] = outbox(guard.db, "hold.ended")
    assert message["data"]["outcome"] == "block"
    assert message["data"]["decision"]["reasons"][0]["rule_id"] == "consent"


def test_a_defer_releases_with_its_time(client: Any, guard: Guard, clock: Clock):
    """Released at the close itself (no delay): a defer then still counts as released."""
    post_event(client, "ida", "complaint.opened", at(-9), case_id="C-9")
    hold_survey(client, "ida")
    post_event(client, "ida", "complaint.resolved", at(-1), case_id="C-9")
    clock.later(days=1)
    with guard.db.raw_transaction() as sql:  # a release due before the 3 days of the survey rule are over
        sql.run("UPDATE holds SET waiting_after = 0")
    assert worker(guard, clock).turn() == 1
    [message] = outbox(guard.db, "hold.released")
    assert message["data"]["outcome"] == "defer" and message["data"]["decision"]["defer_until"]


def test_restarts_lose_nothing_and_release_once(client: Any, guard: Guard, clock: Clock):
    post_event(client, "jon", "complaint.opened", at(-9), case_id="C-10")
    holds = [hold_survey(client, "jon", campaign_id=f"k{i}")["hold"]["hold_id"] for i in range(6)]
    first = worker(guard, clock)
    post_event(client, "jon", "complaint.resolved", at(-2), case_id="C-10")
    first.turn()  # scheduled (due in a day), then the process stops
    assert {r["status"] for r in hold_rows(guard.db)} == {"waiting"}
    clock.later(days=1, seconds=1)
    restarted = [worker(guard, clock) for _ in range(3)]  # three processes, none remembering anything
    errors: list[BaseException] = []

    def run(w: HoldWorker) -> None:
        try:
            w.turn()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in restarted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {r["status"] for r in hold_rows(guard.db)} == {"released"}
    released = outbox(guard.db, "hold.released")
    assert sorted(m["data"]["hold_id"] for m in released) == sorted(holds)
    with guard.db.raw_reads() as sql:
        redecided = sql.first("SELECT count(*) FROM decisions WHERE outcome = 'allow'")
    assert redecided == (6,)


def test_a_hold_that_cannot_be_decided_again_does_not_stop_the_others(client: Any, guard: Guard, clock: Clock):
    post_event(client, "kim", "complaint.opened", at(-9), case_id="C-11")
    first, second = (hold_survey(client, "kim", campaign_id=c)["hold"]["hold_id"] for c in ("a", "b"))
    with guard.db.raw_transaction() as sql:  # as if the request no longer validated
        sql.run("UPDATE holds SET request = ? WHERE hold_id = ?", ('{"channel": "fax"}', first))
    post_event(client, "kim", "complaint.resolved", at(-5), case_id="C-11")
    assert worker(guard, clock).turn() == 2
    rows = {r["hold_id"]: r for r in hold_rows(guard.db)}
    assert rows[second]["status"] == "released"
    assert rows[first]["status"] == "waiting" and rows[first]["release_at"] > clock.now
    clock.later(days=15)  # in the end it expires like any other
    assert worker(guard, clock).turn() >= 1
    assert {r["hold_id"]: r["status"] for r in hold_rows(guard.db)}[first] == "expired"


def test_the_release_instant_is_known_as_soon_as_the_resolution_is_stored(client: Any, guard: Guard):
    post_event(client, "lea", "complaint.opened", at(-9), case_id="C-12")
    hold_id = hold_survey(client, "lea")["hold"]["hold_id"]
    post_event(client, "lea", "complaint.resolved", at(-1), case_id="C-12")  # no worker turn in between
    [listed] = client.get("/v1/holds?customer_id=lea").get_json()["items"]
    assert listed["hold_id"] == hold_id and listed["status"] == "waiting"
    assert listed["release_at"] == at(days=2)
    batch = {"events": [event("lea", "complaint.reopened", at(hours=-1), case_id="C-12")]}
    assert client.post("/v1/events", json=batch).get_json()["created"] == 1
    assert client.get("/v1/holds?customer_id=lea").get_json()["items"][0]["release_at"] is None
