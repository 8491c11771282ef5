"""Large SQLite writes leave their WAL checkpoint to a background thread that holds the writer lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from guard.storage.database import Database
from guard.storage.migrations import upgrade

PAGE = 4096


@pytest.fixture
def file_db(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "big.db"
    upgrade(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}")
    with db.raw_transaction() as sql:
        sql.run("CREATE TABLE probe (id INTEGER PRIMARY KEY, blob TEXT)")
    yield db, path
    db.dispose()


def _write_pages(db: Database, pages: int, checkpoint_later: bool) -> None:
    with db.raw_transaction(checkpoint_later=checkpoint_later) as sql:
        sql.many("INSERT INTO probe (blob) VALUES (?)", [("x" * (PAGE - 200),) for _ in range(pages)])


def test_large_writes_are_checkpointed_behind_the_writer_and_the_log_stays_small(file_db: tuple[Database, Path]):
    db, path = file_db
    for _ in range(30):  # 30 x ~600 pages: 70 MB of log if nothing were ever copied home and restarted
        _write_pages(db, 600, checkpoint_later=True)
    done = threading.Event()

    def next_writer() -> None:
        with db.raw_transaction() as sql:  # waits for the last background checkpoint's lock, then goes
            sql.run("INSERT INTO probe (blob) VALUES ('last')")
        done.set()

    threading.Thread(target=next_writer, daemon=True).start()
    assert done.wait(30), "the background checkpoint never let the next writer in"
    assert path.stat().st_size > 30 * 600 * PAGE * 0.9  # the pages reached the database file
    assert Path(f"{path}-wal").stat().st_size < 12 * 1024 * 1024  # and the log was restarted, not grown


def test_a_failed_large_write_leaves_no_checkpoint_and_no_lock_behind(file_db: tuple[Database, Path]):
    db, _ = file_db
    with pytest.raises(RuntimeError), db.raw_transaction(checkpoint_later=True) as sql:
        sql.run("INSERT INTO probe (blob) VALUES ('lost')")
        raise RuntimeError("boom")
    with db.raw_transaction() as sql:
        sql.run("INSERT INTO probe (blob) VALUES ('kept')")
    with db.raw_reads() as sql:
        assert sql.rows("SELECT blob FROM probe") == [("kept",)]
        assert sql.first("PRAGMA wal_autocheckpoint") == (1000,)  # the pooled connection got its setting back


def test_checkpoint_later_changes_nothing_where_there_is_no_file_lock(db: Database):
    """The tests' bound sessions: an ordinary transaction."""
    with db.raw_transaction(checkpoint_later=True) as sql:
        assert sql.first("SELECT 1") == (1,)


def test_a_large_write_commits_and_lets_the_next_writer_in_on_every_database(committed_db: Database):
    """PostgreSQL (no file lock: nothing to hand over) and a SQLite file (the lock goes to the checkpoint)."""
    with committed_db.raw_transaction() as sql:
        sql.run("CREATE TABLE probe_later (n INTEGER)")
    with committed_db.raw_transaction(checkpoint_later=True) as sql:
        sql.run("INSERT INTO probe_later (n) VALUES (1)")
    with committed_db.raw_transaction() as sql:
        sql.run("INSERT INTO probe_later (n) VALUES (2)")
    with committed_db.raw_reads() as sql:
        assert sql.rows("SELECT n FROM probe_later ORDER BY n") == [(1,), (2,)]
