"""The SQLite writer lock is waited for at most GUARD_DB_TIMEOUT, and a waiter that gave up never leaves it held."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from guard.storage.database import Database
from guard.storage.migrations import upgrade


@pytest.fixture
def two_processes(tmp_path: Path):
    """Two Databases on one file: their writer locks are separate open files, as in two worker processes."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    first, second = Database(url, timeout=0.3), Database(url, timeout=0.3)
    with first.raw_transaction() as sql:
        sql.run("CREATE TABLE probe (id INTEGER PRIMARY KEY, who TEXT)")
    yield first, second
    first.dispose()
    second.dispose()


def _write(db: Database, who: str) -> None:
    with db.raw_transaction() as sql:
        sql.run("INSERT INTO probe (who) VALUES (?)", (who,))


def test_a_writer_gives_up_after_the_timeout_and_the_lock_is_free_after_release(two_processes):
    first, second = two_processes
    assert first._lock is not None
    first._lock.acquire()  # a long write elsewhere
    try:
        for _ in range(3):  # the first gives up with a helper still waiting; the others reuse that helper
            with pytest.raises(OperationalError, match="database is locked"):
                _write(second, "second")
    finally:
        first._lock.release()
    _write(second, "second")  # had at once: the pending helper hands over, or has let go
    _write(first, "first")  # and the abandoned helper never kept the lock for itself
    with first.raw_reads() as sql:
        assert sql.first("SELECT count(*) FROM probe")[0] == 2


def test_a_waiter_gets_the_lock_when_it_is_released_within_the_timeout(two_processes):
    first, second = two_processes
    assert first._lock is not None and second._lock is not None
    second._lock.timeout = 30
    first._lock.acquire()
    done = threading.Event()

    def writer() -> None:
        _write(second, "second")
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not done.wait(0.2)  # waiting for the lock
    first._lock.release()
    thread.join(timeout=30)
    assert done.is_set()
    _write(first, "first")  # the helper's lock went back with the write it was handed to
