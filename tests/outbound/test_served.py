"""Real `guard serve` processes (gunicorn, 2 workers each) delivering to a real receiver on loopback."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests

from guard.core.config import DEV_AUDIT_KEY
from guard.outbound.outbox import enqueue
from guard.outbound.subscriptions import add_subscription
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from tests.faults.real import GuardServer
from tests.outbound.receiver import Receiver

pytestmark = pytest.mark.slow


def _subscribe(url: str, receiver: Receiver, *events: str) -> str:
    """A subscription in the served database; its generated secret."""
    upgrade(url)
    db = Database(url)
    try:
        return add_subscription(db, DEV_AUDIT_KEY, {"url": receiver.url, "events": list(events)}, "test")["secret"]
    finally:
        db.dispose()


def _emit(url: str, count: int = 1, kind: str = "care.requested") -> list[str]:
    """Messages enqueued as a change would (each in its own committed transaction)."""
    db = Database(url)
    try:
        ids = []
        for n in range(count):
            with db.raw_transaction() as sql:
                ids.append(enqueue(sql, kind, {"customer_id": f"c{n}"}))
        return ids
    finally:
        db.dispose()


def _metric(server: GuardServer, status: str) -> float:
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    line = f'guard_webhook_deliveries_total{{status="{status}"}} '
    return sum(float(row.split()[-1]) for row in text.splitlines() if row.startswith(line))


def test_a_message_is_delivered_signed_within_seconds_after_two_failures(
        served_db_url: str, server_env: dict[str, str], servers: Callable[..., GuardServer], receiver: Receiver):
    secret = _subscribe(served_db_url, receiver, "care.requested")
    receiver.answer = lambda n: 500 if n <= 2 else 200
    server = servers(server_env)
    started = time.monotonic()
    [message_id] = _emit(served_db_url)
    [got] = receiver.wait_for(1, timeout=15)
    assert time.monotonic() - started < 10
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert {r.headers["webhook-id"] for r in receiver.received} == {message_id}
    assert got.signed_by(secret)
    assert json.loads(got.body)["data"] == {"customer_id": "c0"}
    deadline = time.monotonic() + 5  # counted once the answer is recorded, just after the receiver saw it
    while _metric(server, "delivered") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _metric(server, "delivered") == 1 and _metric(server, "retrying") == 2


def test_a_restart_in_between_loses_nothing(
        served_db_url: str, server_env: dict[str, str], servers: Callable[..., GuardServer], receiver: Receiver):
    secret = _subscribe(served_db_url, receiver, "care.requested")
    receiver.answer = lambda n: 503 if n <= 2 else 200
    server = servers(server_env)
    [first] = _emit(served_db_url)
    receiver.wait_for(1, timeout=15, answered_ok=False)  # one failed attempt made
    server.stop()
    [second] = _emit(served_db_url)  # while nobody serves
    time.sleep(0.5)
    server.start()
    got = receiver.wait_for(2, timeout=20)
    assert sorted(r.headers["webhook-id"] for r in got) == sorted([first, second])
    assert all(r.signed_by(secret) for r in got)


def test_two_servers_on_one_database_deliver_each_message_once(
        served_db_url: str, server_env: dict[str, str], servers: Callable[..., GuardServer], receiver: Receiver):
    _subscribe(served_db_url, receiver, "care.requested")
    servers(server_env, name="one")
    servers(server_env, name="two")
    sent = _emit(served_db_url, 40)
    got = receiver.wait_for(40, timeout=30)
    time.sleep(1.5)  # a second delivery of any of them would arrive meanwhile
    counts = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(counts) == set(sent) and set(counts.values()) == {1}, counts.most_common(3)
    assert len(got) == 40


def test_a_server_killed_mid_attempt_sends_the_message_again_once_its_claim_expires(
        served_db_url: str, server_env: dict[str, str], servers: Callable[..., GuardServer], receiver: Receiver):
    secret = _subscribe(served_db_url, receiver, "care.requested")
    receiver.answer = lambda n: (time.sleep(1.5) if n == 1 else None) or 200
    server = servers({**server_env, "GUARD_WEBHOOK_TIMEOUT": "3"})
    [message_id] = _emit(served_db_url)
    deadline = time.monotonic() + 15
    while receiver.server is not None and not _in_flight(receiver) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in server.worker_pids():  # SIGKILL while the receiver is still answering: no answer is recorded
        os.kill(pid, signal.SIGKILL)
    server.kill()
    server.start()
    got = receiver.wait_for(2, timeout=60)  # the claim (timeout + 30 s) runs out, then it is sent again
    assert [r.headers["webhook-id"] for r in got] == [message_id, message_id]
    assert got[1].signed_by(secret)
    assert _settled_deliveries(served_db_url) == [("delivered", 1)]


def _settled_deliveries(url: str, seconds: float = 15) -> list[tuple[str, int]]:
    """The deliveries' status and attempts once none is pending: the deliverer records an answer just after the
    receiver has sent it, so a test that saw the request arrive may read the row a moment too early."""
    db = Database(url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            with db.raw_reads() as sql:
                rows = [tuple(row) for row in sql.rows("SELECT status, attempts FROM webhook_deliveries")]
            if all(status != "pending" for status, _ in rows) or time.monotonic() > deadline:
                return rows  # type: ignore[return-value]
            time.sleep(0.05)
    finally:
        db.dispose()


def _in_flight(receiver: Receiver) -> bool:
    """Whether the receiver's lock is held: it is inside its first, slow answer."""
    if receiver.lock.acquire(blocking=False):
        receiver.lock.release()
        return False
    return True


def test_a_server_told_to_send_to_public_addresses_only_never_posts_to_loopback(
        served_db_url: str, server_env: dict[str, str], servers: Callable[..., GuardServer], receiver: Receiver):
    _subscribe(served_db_url, receiver, "care.requested")
    server = servers({**server_env, "GUARD_WEBHOOK_TARGETS": "public"})
    _emit(served_db_url)
    deadline = time.monotonic() + 15
    while _metric(server, "retrying") < 2 and time.monotonic() < deadline:  # tried (and refused) twice
        time.sleep(0.1)
    assert _metric(server, "retrying") >= 2 and _metric(server, "delivered") == 0
    assert receiver.received == []
