"""The database goes away mid-run: clear 503s with Retry-After, nothing half-written, readiness follows the
database while liveness stays up, and Guard recovers by itself when the database is back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import RULES_DIR
from tests.faults.pgcluster import PrivateCluster, binaries
from tests.faults.real import GuardServer, make_key

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(db_url: str) -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster (only in the PostgreSQL run of the suite)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL outage: runs with GUARD_TEST_DATABASE_URL")
    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries to start a private cluster")
    private = PrivateCluster()
    try:
        private.start()
        yield private
    finally:
        private.destroy()


def _decision(customer: str) -> dict[str, str]:
    return {"customer_id": customer, "channel": "email", "purpose": "marketing",
            "idempotency_key": f"down-{uuid.uuid4().hex}"}


def _event(customer: str) -> dict[str, object]:
    return {"event_id": f"down-{uuid.uuid4().hex}", "customer_id": customer, "type": "complaint.opened",
            "occurred_at": "2026-01-01T00:00:00Z", "data": {"case_id": "K-1"}}


def _assert_unavailable(base: str, auth: dict[str, str], event: dict[str, object]) -> None:
    """Every request that needs the database: a clear 503; probes: not ready, but alive."""
    for _ in range(4):  # several times, so every worker answers some
        for path, body in (("/v1/decisions", _decision("down-c")), ("/v1/events", event)):
            answer = requests.post(f"{base}{path}", json=body, headers=auth, timeout=30)
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert int(answer.headers["Retry-After"]) > 0
            error = answer.json()["error"]
            assert error["code"] == "service_unavailable"
            assert set(error) == {"code", "message", "details"}
            assert "Traceback" not in answer.text and "SELECT" not in answer.text.upper()
    ready = requests.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
    assert "Retry-After" in ready.headers
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200


def _assert_recovers(base: str, auth: dict[str, str], event: dict[str, object], within: float = 30) -> None:
    """Without a restart: decisions answer again, and the event refused during the outage was never stored."""
    deadline = time.monotonic() + within
    while True:
        answer = requests.post(f"{base}/v1/decisions", json=_decision("down-c"), headers=auth, timeout=30)
        if answer.status_code == 200:
            break
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, "Guard did not recover"
        time.sleep(0.3)
    assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
    again = requests.post(f"{base}/v1/events", json=event, headers=auth, timeout=30)
    assert again.status_code == 201, again.text  # created now: nothing of it was written before


def test_postgresql_stopped_mid_run(cluster: PrivateCluster, servers: Callable[..., GuardServer]):
    token = make_key(cluster.url, "decide", "events", "read")
    auth = {"Authorization": f"Bearer {token}"}
    server = servers({"GUARD_DATABASE_URL": cluster.url, "GUARD_RULES_DIR": str(RULES_DIR),
                      "GUARD_DB_TIMEOUT": "2"})
    assert requests.post(f"{server.url}/v1/decisions", json=_decision("down-c"), headers=auth,
                         timeout=10).status_code == 200
    event = _event("down-c")

    cluster.stop("immediate")
    _assert_unavailable(server.url, auth, event)
    # A worker replaced during the outage boots without the database (gunicorn would halt on a failed boot).
    replaced = server.kill_worker()
    deadline = time.monotonic() + 30
    while replaced in server.worker_pids() or len(server.worker_pids()) < 2:
        assert time.monotonic() < deadline and server.proc is not None and server.proc.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)
    _assert_unavailable(server.url, auth, event)
    cluster.start()
    _assert_recovers(server.url, auth, event)
    assert '"status": 500' not in server.log_text()  # the access log: not one internal error


def test_sqlite_locked_by_another_process(tmp_path: Path, db_url: str, servers: Callable[..., GuardServer]):
    if db_url.startswith("postgresql"):
        pytest.skip("SQLite lock: runs in the SQLite run of the suite")
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    token = make_key(url, "decide", "events", "read")
    auth = {"Authorization": f"Bearer {token}"}
    server = servers({"GUARD_DATABASE_URL": url, "GUARD_RULES_DIR": str(RULES_DIR), "GUARD_DB_TIMEOUT": "1"})
    first = requests.post(f"{server.url}/v1/decisions", json=_decision("lock-c"), headers=auth, timeout=10)
    assert first.status_code == 200
    event = _event("lock-c")

    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        _assert_unavailable(server.url, auth, event)
        # Reads go on meanwhile (WAL): the audit log stays readable.
        audit = requests.get(f"{server.url}/v1/decisions/{first.json()['decision_id']}", headers=auth, timeout=30)
        assert audit.status_code == 200
        assert time.monotonic() - started < 60  # each refusal came after GUARD_DB_TIMEOUT, not 30 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_recovers(server.url, auth, event)
    assert '"status": 500' not in server.log_text()


HOLDER = """
import sys
from sqlalchemy import text
from guard.ledger.chain import CHAIN_LOCK
from guard.storage.database import Database

db = Database(sys.argv[1])
with db.transaction() as session:  # the writer lock (SQLite) and the audit chain's lock (PostgreSQL), as a purge
    if db.engine.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


def test_a_long_writer_elsewhere_gives_503_after_the_timeout_not_a_stall(served_db_url: str,
                                                                         servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "decide", "events", "read")
    auth = {"Authorization": f"Bearer {token}"}
    server = servers({"GUARD_DATABASE_URL": served_db_url, "GUARD_RULES_DIR": str(RULES_DIR),
                      "GUARD_DB_TIMEOUT": "1"})
    assert requests.post(f"{server.url}/v1/decisions", json=_decision("long-c"), headers=auth,
                         timeout=10).status_code == 200
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, served_db_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for _ in range(4):  # several times, so every worker answers some
            started = time.monotonic()
            answer = requests.post(f"{server.url}/v1/decisions", json=_decision("long-c"), headers=auth,
                                   timeout=30)
            waited = time.monotonic() - started
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "service_unavailable"
            assert int(answer.headers["Retry-After"]) > 0
            assert waited < 5, waited  # GUARD_DB_TIMEOUT (1 s) and a little, while the writer holds on
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    assert requests.post(f"{server.url}/v1/decisions", json=_decision("long-c"), headers=auth,
                         timeout=10).status_code == 200
    assert '"status": 500' not in server.log_text()
