"""The pieces of the hot path: group commit, time-ordered ids, the LRU, digests in parts, raw SQL errors."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from guard.core.config import DEV_AUDIT_KEY
from guard.core.ids import decision_ids
from guard.core.lru import Lru, text_weight
from guard.ledger.digests import (
    decision_digest,
    decision_digest_with,
    decision_tail,
    keyed,
    link_hash,
    link_hash_at,
    use_key,
)
from guard.storage.coalesce import Coalescer


def test_a_lone_submission_runs_at_once_as_a_batch_of_one():
    batches: list[list[int]] = []
    coalescer = Coalescer(batches.append)
    coalescer.submit(1)
    coalescer.submit(2)
    assert batches == [[1], [2]]


def test_submissions_arriving_during_a_batch_run_together_in_the_next():
    batches: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()

    def run(batch: list[int]) -> None:
        batches.append(batch)
        if batch == [0]:
            first_running.set()
            release.wait(5)

    coalescer = Coalescer(run)
    leader = threading.Thread(target=coalescer.submit, args=(0,))
    leader.start()
    assert first_running.wait(5)
    followers = [threading.Thread(target=coalescer.submit, args=(n,)) for n in range(1, 6)]
    for thread in followers:
        thread.start()
    deadline = time.monotonic() + 5
    while len(coalescer._queue) < 5 and time.monotonic() < deadline:  # all five queued behind the leader
        time.sleep(0.01)
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4, 5] and len(batches) == 2


def test_every_waiter_of_a_failed_batch_gets_the_failure_and_the_next_batch_still_runs():
    calls: list[list[str]] = []

    def run(batch: list[str]) -> None:
        calls.append(batch)
        if "bad" in batch:
            raise RuntimeError("database gone")

    coalescer = Coalescer(run)
    with pytest.raises(RuntimeError, match="database gone"):
        coalescer.submit("bad")
    coalescer.submit("good")
    assert calls == [["bad"], ["good"]]


def test_many_threads_each_get_their_own_work_done_exactly_once():
    done: list[int] = []
    lock = threading.Lock()

    def run(batch: list[int]) -> None:
        time.sleep(0.001)
        with lock:
            done.extend(batch)

    coalescer = Coalescer(run, max_batch=7)
    threads = [threading.Thread(target=coalescer.submit, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(done) == list(range(200))


def test_decision_ids_are_uuid7_and_ordered_by_time():
    first = decision_ids(3)
    time.sleep(0.002)
    later = decision_ids(3)
    for text in first + later:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert max(first) < min(later)
    assert len(set(decision_ids(10_000))) == 10_000
    stamp_ms = int(first[0].replace("-", "")[:12], 16)
    assert abs(stamp_ms / 1000 - time.time()) < 5


def test_lru_forgets_the_least_recently_used():
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3


def test_lru_keyed_by_text_stays_within_its_bytes():
    lru: Lru[str, int] = Lru(1000, max_bytes=64_000, weigh=text_weight)
    for i in range(500):
        lru.put(f"{i:04d}".ljust(400, "x"), i)  # 1,000 bytes each by text_weight
    assert lru.weight <= 64_000
    assert lru.get(f"{499:04d}".ljust(400, "x")) == 499 and lru.get(f"{0:04d}".ljust(400, "x")) is None
    lru.put("y" * 600, 1)  # alone more than 1/64 of the budget: not kept, pushes nothing out
    assert lru.get("y" * 600) is None and lru.get(f"{499:04d}".ljust(400, "x")) == 499


def test_a_decision_digest_in_parts_is_the_digest_verification_recomputes():
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    row = {"decision_id": "d-1", "customer_id": "cust-1", "campaign_id": None, "channel": "email",
           "purpose": "marketing", "send_at": at, "outcome": "defer", "route": None, "defer_until": at,
           "rules_version": "3", "evaluated_at": at, "idempotency_key": "k", "api_key_name": "crm",
           "request_hash": "h" * 64}
    reasons = [("quiet-hours", "defer", "Not at night.")]
    tail = decision_tail(row, reasons, "r" * 64, "f" * 64)
    whole = decision_digest(row, reasons, "r" * 64, "f" * 64)
    assert decision_digest_with("d-1", "cust-1", tail, "crm", "h" * 64) == whole
    assert decision_digest_with("d-2", "cust-1", tail, "crm", "h" * 64) != whole
    assert link_hash_at("p", 7, "decision", "d-1", "2026-03-10T12:00:00Z", "x") == link_hash(
        "p", 7, "decision", "d-1", at, "x")


def test_raw_sql_errors_are_sqlalchemys_own_classes(db):
    with pytest.raises(IntegrityError), db.raw_transaction() as sql:
        sql.run("INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                ("a", "gk_", "h" * 64, "read", sql.time(datetime.now(UTC))))
        sql.run("INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                ("b", "gk_", "h" * 64, "read", sql.time(datetime.now(UTC))))
    with db.raw_reads() as sql:
        assert sql.first("SELECT count(*) FROM api_keys WHERE key_hash = ?", ("h" * 64,)) == (0,)


@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 64, bytes(range(200)), "sch\u00fcssel-".encode() * 8])
def test_keyed_digests_are_hmac_sha256_under_the_audit_key(key):
    """The hot path's precomputed HMAC states give exactly the standard HMAC, for keys up to and beyond a block."""
    try:
        use_key(key)
        for text in ("", "customer\x1fann", "\u00e9" * 500):
            assert keyed(text) == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    finally:
        use_key(DEV_AUDIT_KEY)
