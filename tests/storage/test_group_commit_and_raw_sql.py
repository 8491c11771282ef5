"""Group commit (Coalescer) and the raw SQL path's errors."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

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


def test_raw_sql_errors_are_sqlalchemys_own_classes(db):
    with pytest.raises(IntegrityError), db.raw_transaction() as sql:
        sql.run("INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                ("a", "gk_", "h" * 64, "read", sql.time(datetime.now(UTC))))
        sql.run("INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                ("b", "gk_", "h" * 64, "read", sql.time(datetime.now(UTC))))
    with db.raw_reads() as sql:
        assert sql.first("SELECT count(*) FROM api_keys WHERE key_hash = ?", ("h" * 64,)) == (0,)
