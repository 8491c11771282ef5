"""kill -9 under load: a worker, then the master. Nothing a client was told is lost, nothing is doubled."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from guard.storage.database import Database
from guard.storage.tables import Decision, Event
from tests.faults.load import Ledger, run_clients
from tests.faults.real import GuardServer, make_key

pytestmark = pytest.mark.slow

CUSTOMERS = ["kill-a", "kill-b", "kill-c"]


def test_kill_9_worker_then_master_under_load_loses_nothing(server_env: dict[str, str], served_db_url: str,
                                                            servers: Callable[..., GuardServer], tmp_path: Path):
    token = make_key(served_db_url, "decide", "events", "read")
    # A metrics directory of the test's own: a killed master cannot remove the one it would have made.
    server = servers({**server_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})
    ledger = Ledger()
    # Enough operations (each client pauses 10 ms between them) to keep the load going well past the restart.
    threads = run_clients(server.url, token, CUSTOMERS, operations=800, seconds=90, ledger=ledger)

    time.sleep(1.5)
    killed = server.kill_worker()
    time.sleep(1.5)
    assert killed not in server.worker_pids()
    server.kill()  # the master: clients now retry against a closed port
    time.sleep(1.0)
    server.start()  # same port, same database: as a supervisor would restart it
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    assert not ledger.failures, ledger.failures[:5]
    assert ledger.retried, "no request was interrupted: the faults hit nothing"
    assert len(ledger.decisions) > 20 and len(ledger.events) > 20
    _every_decision_is_audited(server.url, token, ledger)
    _every_event_is_in_the_situation(server.url, token, ledger)
    _no_duplicates(served_db_url, ledger)


def _every_decision_is_audited(base: str, token: str, ledger: Ledger) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    for key, ids in ledger.decisions.items():
        assert len(set(ids)) == 1, (key, ids)  # a retried key answers with the first decision
        audit = requests.get(f"{base}/v1/decisions/{ids[0]}", headers=auth, timeout=10)
        assert audit.status_code == 200, (key, audit.text)
        assert audit.json()["idempotency_key"] == key


def _every_event_is_in_the_situation(base: str, token: str, ledger: Ledger) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    for customer in CUSTOMERS:
        situation = requests.get(f"{base}/v1/customers/{customer}", headers=auth, timeout=10).json()
        open_cases = {c["case_id"] for c in situation["open_complaints"]}
        acknowledged = {e for e, c in ledger.events.items() if c == customer}
        assert acknowledged <= open_cases, acknowledged - open_cases


def _no_duplicates(url: str, ledger: Ledger) -> None:
    db = Database(url)
    try:
        with db.sessions() as session:
            keyed = dict(session.execute(
                select(Decision.idempotency_key, func.count()).where(Decision.customer_id.in_(CUSTOMERS))
                .group_by(Decision.idempotency_key)).all())
            events = set(session.scalars(select(Event.event_id).where(Event.customer_id.in_(CUSTOMERS))))
    finally:
        db.dispose()
    assert all(n == 1 for n in keyed.values())
    assert set(ledger.decisions) <= set(keyed)
    assert set(ledger.events) <= events
