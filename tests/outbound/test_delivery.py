"""The delivery cycle on the real database with a real receiver: fan-out, signing, retries, give-up, redelivery."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from guard.audit.verify import verify
from guard.core.errors import Conflict, NotFound, ValidationFailed
from guard.core.timeutil import utcnow
from guard.outbound.deliveries import redeliver
from guard.outbound.delivery import Policy, claim, fan_out
from guard.outbound.subscriptions import add_subscription, list_subscriptions, remove_subscription
from guard.outbound.worker import Deliverer
from guard.storage.database import Database
from tests.outbound.conftest import FAST, KEY, deliveries, emit, rounds, subscribe
from tests.outbound.receiver import Receiver


def test_a_message_reaches_its_subscriber_signed_with_its_body_byte_for_byte(db: Database, receiver: Receiver):
    added = subscribe(db, receiver.url, "care.requested")
    assert added["secret"].startswith("whsec_")
    message_id = emit(db, customer_id="c1", route="care")
    Deliverer(db, KEY, FAST).round()
    [got] = receiver.wait_for(1)
    assert got.headers["webhook-id"] == message_id
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 10
    assert got.signed_by(added["secret"])
    body = json.loads(got.body)
    assert body["type"] == "care.requested" and body["data"] == {"customer_id": "c1", "route": "care"}
    [delivery] = deliveries(db)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1 and delivery["last_status"] == 200


def test_each_matching_subscription_gets_its_own_delivery_and_others_none(db: Database, receiver: Receiver):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    subscribe(db, receiver.url + "?a", "care.requested", secret=secret)
    subscribe(db, receiver.url + "?b", "care.requested", "hold.released", secret=secret)
    subscribe(db, receiver.url + "?c", "hold.released", secret=secret)
    emit(db, "care.requested")
    rounds(Deliverer(db, KEY, FAST), stop=lambda: len(receiver.delivered()) >= 2)
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/hook?a", "/hook?b"]
    assert all(r.signed_by(secret) for r in got)
    assert len({r.headers["webhook-id"] for r in got}) == 1  # one message, the same id to everyone


def test_a_receiver_failing_twice_gets_the_message_on_the_third_attempt(db: Database, receiver: Receiver):
    receiver.answer = lambda n: 503 if n <= 2 else 200
    subscribe(db, receiver.url, "care.requested")
    emit(db)
    deliverer = Deliverer(db, KEY, FAST)
    rounds(deliverer, stop=lambda: bool(receiver.delivered()))
    receiver.wait_for(1)
    assert [r.answered for r in receiver.received] == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    [delivery] = deliveries(db)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3 and delivery["last_error"] is None


def test_with_public_targets_only_a_private_receiver_gets_nothing_and_the_reason_is_recorded(
        db: Database, receiver: Receiver):
    subscribe(db, receiver.url, "care.requested")
    emit(db)
    Deliverer(db, KEY, Policy(timeout=2, backoff=60, retry_for=600, public_only=True)).round()
    [delivery] = deliveries(db)
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert "not a public address (GUARD_WEBHOOK_TARGETS=public)" in delivery["last_error"]
    assert receiver.received == []


def test_with_public_targets_only_a_private_receiver_is_refused_when_subscribed(db: Database):
    with pytest.raises(ValidationFailed) as refused:
        add_subscription(db, KEY, {"url": "http://localhost:8080/hooks", "events": ["care.requested"]}, "test",
                         public_only=True)
    [why] = refused.value.details["url"]
    assert why.startswith("localhost resolves to")
    assert why.endswith("not a public address (GUARD_WEBHOOK_TARGETS=public)")
    # A name that resolves to nothing now is taken: every attempt checks the address again.
    added = add_subscription(db, KEY, {"url": "https://hooks.invalid/guard", "events": ["care.requested"]}, "test",
                             public_only=True)
    assert [s.url for s in _live(db)] == [added["url"]]


def _live(db: Database) -> list:
    with db.sessions() as session:
        return list_subscriptions(session)


def test_retries_back_off_exponentially():
    policy = Policy(backoff=10)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert policy.delay(30) == timedelta(hours=1)


def test_a_delivery_failing_past_its_window_is_failed_and_can_be_redelivered(db: Database, receiver: Receiver):
    receiver.answer = lambda n: 500
    subscribe(db, receiver.url, "care.requested")
    emit(db)
    rounds(Deliverer(db, KEY, Policy(timeout=2, backoff=0.05, retry_for=0.3)),
            stop=lambda: bool(deliveries(db, status="failed")))
    [failed] = deliveries(db, status="failed")
    assert failed["attempts"] >= 2 and "HTTP 500" in failed["last_error"] and failed["next_attempt_at"] is None
    receiver.answer = lambda n: 200
    again = redeliver(db, failed["id"], retry_for=60)
    assert again["status"] == "pending"
    rounds(Deliverer(db, KEY, FAST), stop=lambda: bool(receiver.delivered()))
    assert len(receiver.wait_for(1)) == 1
    [delivered] = deliveries(db, status="delivered")
    assert delivered["id"] == failed["id"] and delivered["attempts"] == failed["attempts"] + 1


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(db: Database, receiver: Receiver):
    subscribe(db, receiver.url, "care.requested")
    emit(db)
    now = utcnow()
    assert fan_out(db, now, FAST) == 1
    [job] = claim(db, now, FAST, 10)
    assert claim(db, now, FAST, 10) == []  # another worker finds nothing to take
    later = now + FAST.lease() + timedelta(seconds=1)
    [again] = claim(db, later, FAST, 10)  # the first worker died: its claim ran out
    assert again.delivery_id == job.delivery_id and again.claim != job.claim


def test_removing_a_subscription_cancels_its_pending_deliveries(db: Database, receiver: Receiver):
    receiver.answer = lambda n: 500
    added = subscribe(db, receiver.url, "care.requested")
    emit(db)
    deliverer = Deliverer(db, KEY, Policy(timeout=2, backoff=30, retry_for=600))
    rounds(deliverer, stop=lambda: bool(receiver.received))
    remove_subscription(db, added["id"])
    [cancelled] = deliveries(db)
    assert cancelled["status"] == "cancelled"
    with pytest.raises(Conflict):
        redeliver(db, cancelled["id"], retry_for=60)
    with pytest.raises(NotFound):
        remove_subscription(db, added["id"])
    with db.sessions() as session:
        assert list_subscriptions(session) == []


def test_a_message_without_subscribers_is_delivered_to_nobody(db: Database, receiver: Receiver):
    subscribe(db, receiver.url, "hold.released")
    emit(db, "care.requested")
    assert Deliverer(db, KEY, FAST).round() is False
    assert deliveries(db) == [] and receiver.received == []


def test_subscription_changes_are_chained_in_the_audit_log(db: Database, receiver: Receiver):
    added = subscribe(db, receiver.url, "care.requested")
    remove_subscription(db, added["id"])
    with db.sessions() as session:
        assert verify(session).ok
    with db.transaction() as session:
        session.connection().exec_driver_sql(
            f"UPDATE webhook_subscriptions SET url = 'http://evil.example/' WHERE id = {added['id']}")
    with db.sessions() as session:
        report = verify(session)
    assert not report.ok and report.problems[0].record.startswith("subscription")


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://example.com/", "events": ["care.requested"]}, "url"),
    ({"url": "https://example.com/", "events": []}, "events"),
    ({"url": "https://example.com/", "events": ["Care Requested"]}, "events"),
    ({"url": "https://example.com/", "events": ["care.requested"], "secret": "plain"}, "secret"),
    ({"url": "https://example.com/", "events": ["care.requested"], "extra": 1}, "extra"),
    ({"events": ["care.requested"]}, "url"),
])
def test_invalid_subscriptions_are_refused_with_field_details(db: Database, body: dict, field: str):
    with pytest.raises(ValidationFailed) as caught:
        add_subscription(db, KEY, body, "test")
    assert field in caught.value.details
    with db.sessions() as session:
        assert list_subscriptions(session) == []


def test_the_deliveries_filter_is_validated(db: Database):
    with pytest.raises(ValidationFailed) as caught:
        deliveries(db, status="lost")
    assert "status" in caught.value.details
