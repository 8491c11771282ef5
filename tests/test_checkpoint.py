"""SQLite checkpoints run in a background thread of the server, not inside a request's COMMIT."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from guard.checkpoint import Checkpointer
from guard.config import Settings
from guard.db import Database
from guard.http.app import create_app
from guard.migrations import upgrade
from guard.serve import worker_ready
from guard.service import Guard


def _file_database(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "ckpt.db"
    upgrade(f"sqlite:///{path}")
    return Database(f"sqlite:///{path}"), path


def _write(db: Database, rows: int) -> None:
    """A few hundred KB in small commits: well below SQLite's own 1,000-page checkpoint threshold."""
    for n in range(rows):
        with db.raw_transaction() as sql:
            sql.run("INSERT INTO rule_drafts_probe (note) VALUES (?)", ("x" * 4000 + str(n),))


@pytest.fixture
def database(tmp_path: Path) -> tuple[Database, Path]:
    db, path = _file_database(tmp_path)
    with db.raw_transaction() as sql:
        sql.run("CREATE TABLE rule_drafts_probe (id INTEGER PRIMARY KEY, note TEXT)")
    return db, path


def _grows_within(path: Path, size: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.stat().st_size > size:
            return True
        time.sleep(0.05)
    return False


def test_commits_leave_checkpoints_to_the_background_thread(database: tuple[Database, Path]):
    db, path = database
    checkpointer = db.checkpoint_in_background()
    assert checkpointer is not None
    try:
        with db.raw_reads() as sql:
            assert sql.first("PRAGMA wal_autocheckpoint") == (0,)  # no COMMIT checkpoints any more
        before = path.stat().st_size
        _write(db, 60)
        # Committed pages reach the database file without anybody checkpointing in a request.
        assert _grows_within(path, before + 100_000, 5), "the background thread never checkpointed"
        assert checkpointer.runs > 0
    finally:
        checkpointer.stop()
        db.dispose()


def test_without_the_thread_nothing_reaches_the_file_below_the_threshold(database: tuple[Database, Path]):
    """The control: the same writes with automatic checkpoints off and no thread stay in the -wal file."""
    db, path = database
    checkpointer = db.checkpoint_in_background()
    assert checkpointer is not None
    checkpointer.stop()
    before = path.stat().st_size
    _write(db, 60)
    assert not _grows_within(path, before + 100_000, 1)
    assert os.path.getsize(f"{path}-wal") > 200_000
    db.dispose()


def test_postgresql_and_in_memory_databases_have_no_checkpointer(db: Database):
    assert db.checkpoint_in_background() is None  # the test database is bound to a rolled-back connection


def test_a_failed_checkpoint_is_retried_on_the_next_turn(tmp_path: Path):
    checkpointer = Checkpointer(str(tmp_path / "missing" / "nothing.db"), interval=0.01)
    checkpointer.start()
    time.sleep(0.1)
    checkpointer.stop()  # the thread could not even open the file: it logged, and stops cleanly
    assert checkpointer.runs == 0


def test_every_server_worker_checkpoints_in_the_background(database: tuple[Database, Path]):
    """gunicorn's post_worker_init hook hands the loaded app's database to a checkpointer."""
    db, path = database
    guard = Guard(Settings(database_url=db.url), db=db)
    worker = SimpleNamespace(wsgi=create_app(guard=guard))  # what the hook reads of gunicorn's worker
    checkpointer = worker_ready(worker)
    assert checkpointer is not None
    try:
        with db.raw_reads() as sql:
            assert sql.first("PRAGMA wal_autocheckpoint") == (0,)
        before = path.stat().st_size
        _write(db, 60)
        assert _grows_within(path, before + 100_000, 5)
    finally:
        checkpointer.stop()
        db.dispose()
