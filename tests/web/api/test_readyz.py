"""/readyz looks at SQLite's write lock without taking it: a probe never competes with a writer."""

from __future__ import annotations

import subprocess
import sys
import threading

from guard.app import Guard
from guard.core.config import Settings
from guard.storage.database import Database
from guard.web.factory import create_app
from tests.conftest import RULES_DIR

STUCK_WRITER = """
import sqlite3, sys
holder = sqlite3.connect(sys.argv[1], isolation_level=None)
holder.execute("BEGIN IMMEDIATE")  # the write lock, held and never committed
print("held", flush=True)
sys.stdin.read()
holder.execute("ROLLBACK")
"""


def _guard(db: Database) -> Guard:
    guard = Guard(Settings(database_url=db.url, rules_dir=str(RULES_DIR)), db=db)
    guard.seed_rules()
    return guard


def test_readyz_is_ready_while_a_write_is_in_progress_and_the_write_commits(committed_db: Database):
    client = create_app(_guard(committed_db)).test_client()
    writing, finish = threading.Event(), threading.Event()

    def writer() -> None:
        with committed_db.raw_transaction() as sql:  # BEGIN IMMEDIATE on SQLite: the write lock, until `finish`
            sql.run("CREATE TABLE ready_probe (id INTEGER)")
            writing.set()
            finish.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(30)
        for _ in range(3):
            answer = client.get("/readyz")
            assert answer.status_code == 200, answer.get_json()
    finally:
        finish.set()
        thread.join(30)
    with committed_db.raw_reads() as sql:  # the write was never in the probe's way: it committed
        assert sql.first("SELECT count(*) FROM ready_probe") == (0,)


def test_readyz_is_not_ready_while_another_process_holds_the_write_lock(committed_db: Database):
    client = create_app(_guard(committed_db)).test_client()
    if committed_db.engine.dialect.name != "sqlite":
        assert client.get("/readyz").status_code == 200  # PostgreSQL answering is enough
        return
    path = committed_db.engine.url.database
    holder = subprocess.Popen([sys.executable, "-c", STUCK_WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "not_ready"
        assert "Retry-After" in answer.headers
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(30) == 0
    assert client.get("/readyz").status_code == 200
