"""PostgreSQL: the hot statements are prepared on the server from their first use, and a pool whose
connections the server dropped (terminated backends, a restart) is replaced without a failed request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from guard.decisions.service import decide
from guard.lifecycle.active import ActiveRules
from guard.lifecycle.versions import seed_from_directory
from guard.situation.history import LOCK_TABLE
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from tests.conftest import RULES_DIR
from tests.faults.pgcluster import PrivateCluster, binaries

pytestmark = pytest.mark.usefixtures("postgres_only")

HOT = ("FROM customer_aliases", "FROM events WHERE", "FROM suppressions", f"FROM {LOCK_TABLE} WHERE",
       "FROM decisions WHERE customer_id", "INSERT INTO decisions", "INSERT INTO audit_records")


@pytest.fixture
def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's prepared statements: runs with GUARD_TEST_DATABASE_URL")


def _served(url: str) -> tuple[Database, ActiveRules]:
    upgrade(url)
    db = Database(url)
    seed_from_directory(db, RULES_DIR)
    return db, ActiveRules(db)


def _decide(db: Database, rules: ActiveRules, customer: str) -> dict[str, object]:
    return decide(db, rules.current, {"customer_id": customer, "channel": "email", "purpose": "marketing"})


def _prepared(db: Database) -> list[str]:
    """The statements prepared on the connection the next transaction gets (the pool hands out the last one)."""
    with db.raw_reads() as sql:
        return [row[0] for row in sql.rows("SELECT statement FROM pg_prepared_statements")]


def _terminate_others(url: str) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.exec_driver_sql(
                # Waiting for each to end, as a request arriving later would find it: closed.
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").all())
    finally:
        admin.dispose()


@pytest.fixture
def served(committed_db: Database) -> Iterator[tuple[Database, ActiveRules]]:
    db, rules = _served(committed_db.url)
    yield db, rules
    db.dispose()


def test_the_hot_statements_are_prepared_by_the_first_decision(served):
    db, rules = served
    assert _decide(db, rules, "prep-1")["outcome"]
    prepared = _prepared(db)
    missing = [part for part in HOT if not any(part in statement for statement in prepared)]
    assert not missing, prepared


def test_terminated_connections_are_replaced_without_a_failed_request(served, committed_db: Database):
    db, rules = served
    for n in range(3):
        _decide(db, rules, f"drop-{n}")
    assert _terminate_others(committed_db.url) >= 1
    assert _decide(db, rules, "drop-after")["outcome"]  # the first request after the drop: answered
    prepared = _prepared(db)
    assert any("FROM customer_aliases" in statement for statement in prepared)  # prepared anew


def test_a_restarted_server_is_served_by_the_first_decision_after_it(db_url: str):
    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries to start a private cluster")
    cluster = PrivateCluster()
    try:
        cluster.start()
        db, rules = _served(cluster.url)
        for n in range(3):
            _decide(db, rules, f"restart-{n}")
        cluster.stop("fast")
        cluster.start()
        assert _decide(db, rules, "restart-after")["outcome"]
        assert any("INSERT INTO decisions" in statement for statement in _prepared(db))
        db.dispose()
    finally:
        cluster.destroy()
