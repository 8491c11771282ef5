"""A purge and the outbox: old messages whose deliveries all settled go with those deliveries; a message that may
still be sent (a delivery pending, or not fanned out yet) stays whatever its age and is delivered afterwards."""

from __future__ import annotations

from datetime import timedelta

from guard.audit.retention import purge
from guard.audit.verify import verify
from guard.core.timeutil import utcnow
from guard.outbound.delivery import Policy
from guard.outbound.subscriptions import remove_subscription
from guard.outbound.worker import Deliverer
from guard.storage.database import Database
from tests.outbound.conftest import FAST, KEY, deliveries, emit, rounds, subscribe
from tests.outbound.receiver import Receiver

# A failure with no retry window left: failed at once (with FAST it is retried 50 ms later).
NO_RETRY = Policy(timeout=2, backoff=0.05, retry_for=0)


def _message_ids(db: Database) -> list[str]:
    with db.raw_reads() as sql:
        return [row[0] for row in sql.rows("SELECT message_id FROM outbox ORDER BY id")]


def _verified(db: Database) -> None:
    with db.sessions() as session:
        report = verify(session)
    assert report.ok, report.problems


def test_settled_messages_go_and_the_others_are_still_delivered(db: Database, receiver: Receiver):
    subscribe(db, receiver.url, "care.requested")
    emit(db, "hold.expired")  # no subscriber wants it: fanned out to no delivery at all
    delivered = emit(db)
    Deliverer(db, KEY, FAST).round()
    receiver.answer = lambda n: 503
    emit(db)
    Deliverer(db, KEY, NO_RETRY).round()
    pending = emit(db)
    Deliverer(db, KEY, FAST).round()  # one attempt: pending, to be retried
    waiting = emit(db)  # not fanned out yet
    assert [d["status"] for d in deliveries(db)] == ["pending", "failed", "delivered"]

    report = purge(db, utcnow() + timedelta(days=1))

    assert (report["outbox_messages"], report["webhook_deliveries"]) == (3, 2)
    assert _message_ids(db) == [pending, waiting]
    assert [d["message_id"] for d in deliveries(db)] == [pending]
    _verified(db)
    receiver.answer = lambda n: 200
    rounds(Deliverer(db, KEY, FAST), stop=lambda: len(receiver.delivered()) >= 3)
    got = [r.headers["webhook-id"] for r in receiver.delivered()]
    assert got[0] == delivered and sorted(got[1:]) == sorted([pending, waiting])
    assert [d["status"] for d in deliveries(db)] == ["delivered", "delivered"]
    _verified(db)


def test_a_message_attempted_since_the_date_stays(db: Database, receiver: Receiver):
    """Created before the date but delivered (or failed, or cancelled) after it: recent enough to be redelivered,
    so it stays until a purge with a later date."""
    added = subscribe(db, receiver.url, "care.requested")
    old, recent = emit(db), emit(db)
    Deliverer(db, KEY, FAST).round()
    receiver.answer = lambda n: 503
    cancelled = emit(db)
    Deliverer(db, KEY, FAST).round()  # one attempt: pending, to be retried
    remove_subscription(db, added["id"])  # its pending delivery is cancelled
    assert [d["status"] for d in deliveries(db)] == ["cancelled", "delivered", "delivered"]
    month_ago = utcnow() - timedelta(days=30)
    with db.raw_transaction() as sql:  # all made a month ago; only `recent` was attempted since
        sql.run("UPDATE outbox SET created_at = ?", (sql.time(month_ago),))
        sql.run("UPDATE webhook_deliveries SET created_at = ?", (sql.time(month_ago),))
        sql.run("UPDATE webhook_deliveries SET last_attempt_at = ? WHERE outbox_id IN "
                "(SELECT id FROM outbox WHERE message_id IN (?, ?))", (sql.time(month_ago), old, cancelled))

    report = purge(db, utcnow() - timedelta(days=1))

    assert (report["outbox_messages"], report["webhook_deliveries"]) == (2, 2)
    assert _message_ids(db) == [recent]
    assert purge(db, utcnow() + timedelta(days=1))["outbox_messages"] == 1
    assert _message_ids(db) == []
