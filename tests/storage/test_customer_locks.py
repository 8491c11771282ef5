"""PostgreSQL: however many customers a transaction decides for, its per-customer locks (rows of the bucket
table) take no room in the server's shared lock table, so big batches and stream chunks at once never fill it
(which would fail every session's transactions, not only theirs). Run on a private cluster with the default
lock table: overflowing the machine's shared server would fail other people's work."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from guard.app import Guard, RulesHolder
from guard.core.config import Settings
from guard.decisions.service import MAX_BATCH, decide, decide_batch
from guard.policy.evaluate import Evaluator
from guard.situation.history import LOCK_BUCKETS, LOCK_TABLE, lock_customers, lock_customers_as_asked, lock_statement
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from guard.storage.sql import Sql
from tests.conftest import empty_every_table
from tests.decisions.conftest import api_client
from tests.faults.pgcluster import PrivateCluster, binaries

pytestmark = pytest.mark.usefixtures("postgres_only")

# PostgreSQL's defaults, written out: a lock table of about 64 x (100 + auxiliary processes) entries, shared by
# every session of the server.
DEFAULT_LOCK_TABLE = {"max_locks_per_transaction": "64", "max_connections": "100", "max_prepared_transactions": "0"}
# Entries of the shared lock table held by sessions of the cluster's databases (not by this query's own).
_LOCKS = "SELECT count(*) FROM pg_locks WHERE pid <> pg_backend_pid()"


@pytest.fixture
def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's row locks: runs with GUARD_TEST_DATABASE_URL")
    if binaries() is None:
        pytest.skip("no PostgreSQL server binaries to start a private cluster")


@pytest.fixture(scope="module")
def cluster_db() -> Iterator[Database]:
    """A migrated database on a private cluster of the default lock table size."""
    cluster = PrivateCluster()
    try:
        with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in DEFAULT_LOCK_TABLE.items())
        cluster.start()
        upgrade(cluster.url)
        db = Database(cluster.url)
        yield db
        db.dispose()
    finally:
        cluster.destroy()


def _names(prefix: str, count: int = MAX_BATCH) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def _locks(db: Database) -> int:
    with db.raw_reads() as sql:
        row = sql.first(_LOCKS)
        assert row is not None
        return int(row[0])


def _waiting(db: Database) -> bool:
    with db.raw_reads() as sql:
        row = sql.first(f"{_LOCKS} AND NOT granted")
        return row is not None and int(row[0]) > 0


def test_two_transactions_of_a_whole_batch_each_hold_few_locks(cluster_db: Database):
    """The second of two MAX_BATCH transactions waits for the first (some of their buckets meet), never
    failing: each holds a handful of the shared lock table's entries (its relations and transaction ids),
    not one per customer or bucket."""
    held, release, failure = threading.Event(), threading.Event(), []

    def first() -> None:
        with cluster_db.raw_transaction() as sql:
            lock_customers(sql, set(_names("a")))
            held.set()
            release.wait(60)

    def second() -> None:
        try:
            with cluster_db.raw_transaction() as sql:
                lock_customers_as_asked(sql, _names("b"))
        except Exception as exc:  # recorded for the assertion below, in the test's own thread
            failure.append(exc)

    holder = threading.Thread(target=first)
    holder.start()
    try:
        assert held.wait(60)
        alone = _locks(cluster_db)
        assert alone <= 10, alone
        waiter = threading.Thread(target=second)
        waiter.start()
        for _ in range(600):
            if failure or _waiting(cluster_db):
                break
            threading.Event().wait(0.05)
        assert not failure, failure
        assert _waiting(cluster_db)  # 10,000 of 262,144 buckets each: about 380 in common
        assert _locks(cluster_db) <= 2 * 10, _locks(cluster_db)
    finally:
        release.set()
        holder.join(60)
    waiter.join(60)
    assert not failure, failure


def _held(sql: Sql) -> list[int]:
    """The buckets this transaction has locked: a row locked FOR UPDATE carries its locker's xid as xmax."""
    return [row[0] for row in sql.rows(f"SELECT bucket FROM {LOCK_TABLE} "
                                       "WHERE xmax = CAST(CAST(pg_current_xact_id() AS text) AS xid) ORDER BY bucket")]


def test_a_customer_takes_the_same_lock_plain_and_as_asked(cluster_db: Database):
    """Decisions (alias-aware) and link changes, erasures, redecisions (plain) lock the same bucket row of a
    customer; asked under an alias, a decision locks the alias's bucket and its customer's."""
    with cluster_db.raw_transaction() as sql:
        lock_customers(sql, {"same-1"})
        plain = _held(sql)
        assert len(plain) == 1
    with cluster_db.raw_transaction() as sql:
        lock_customers_as_asked(sql, ["same-1"])
        assert _held(sql) == plain
    with cluster_db.raw_transaction() as sql:
        sql.run("INSERT INTO customer_aliases (alias, customer_id, created_at) VALUES ('alias-of-same-1', "
                "'same-1', now())")
        lock_customers(sql, {"alias-of-same-1"})
        alias = _held(sql)
    try:
        with cluster_db.raw_transaction() as sql:
            lock_customers_as_asked(sql, ["alias-of-same-1"])
            assert _held(sql) == sorted(set(plain + alias))
    finally:
        with cluster_db.raw_transaction() as sql:
            sql.run("DELETE FROM customer_aliases WHERE alias = 'alias-of-same-1'")


def test_a_customer_locked_in_one_transaction_waits_in_another(cluster_db: Database):
    """The locks exclude across sessions: a decision's lock waits for a link change's on the same customer (here
    until lock_timeout), and a different customer's goes through."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with cluster_db.raw_transaction() as sql:
            lock_customers(sql, {"busy-1"})
            held.set()
            release.wait(60)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(60)
        with pytest.raises(Exception, match="lock timeout"), cluster_db.raw_transaction() as sql:
            sql.run("SET LOCAL lock_timeout = '300ms'")
            lock_customers_as_asked(sql, ["busy-1", "free-1"])
        with cluster_db.raw_transaction() as sql:
            sql.run("SET LOCAL lock_timeout = '5s'")
            lock_customers_as_asked(sql, ["free-1"])
    finally:
        release.set()
        thread.join(60)


def test_the_buckets_are_locked_in_ascending_order_by_the_plan(cluster_db: Database):
    """LockRows locks rows as its child yields them: that child is the primary key's index scan of `= ANY`
    (sorted, distinct keys) or a sort by bucket, so any two transactions lock their common buckets in one order
    (no deadlock). Checked on the plan of a whole batch's statement."""
    with cluster_db.raw_transaction() as sql:
        row = sql.first("EXPLAIN (FORMAT JSON) " + lock_statement("SELECT unnest(CAST(? AS text[])) AS c"),
                        (_names("plan"),))
    assert row is not None
    plans = [row[0][0]["Plan"]]
    lock_rows = []
    while plans:
        plan = plans.pop()
        if plan["Node Type"] == "LockRows":
            lock_rows.append(plan)
        plans.extend(plan.get("Plans", []))
    assert len(lock_rows) == 1
    [child] = lock_rows[0]["Plans"]
    ordered = (child["Node Type"] in ("Index Scan", "Index Only Scan")
               and child["Index Name"] == f"pk_{LOCK_TABLE}" and "ANY" in child["Index Cond"]
               and child.get("Scan Direction") == "Forward")
    by_bucket = child["Node Type"] == "Sort" and child["Sort Key"] == [f"{LOCK_TABLE}.bucket"]
    assert ordered or by_bucket, child


def test_the_migration_fills_every_bucket_and_a_missing_one_fails_loudly(cluster_db: Database, engine: Engine,
                                                                         db: Database):
    """Every bucket has its row, and keeps it when the test fixture empties every table; a table that lost one
    makes the lock statement fail instead of silently not serialising."""
    empty_every_table(engine)
    for database in (cluster_db, db):
        with database.raw_reads() as sql:
            assert sql.first(f"SELECT count(*), min(bucket), max(bucket) FROM {LOCK_TABLE}") == (
                LOCK_BUCKETS, 0, LOCK_BUCKETS - 1)
    with pytest.raises(Exception, match="lacks buckets"), cluster_db.raw_transaction() as sql:
        sql.run(f"DELETE FROM {LOCK_TABLE} WHERE bucket = hashtext('gone') & {LOCK_BUCKETS - 1}")
        lock_customers(sql, {"gone", "here"})


def test_big_batches_at_once_and_single_decisions_beside_them_all_succeed(cluster_db: Database,
                                                                          starter_evaluator: Evaluator):
    """Two whole batches through the app at once, and single decisions meanwhile: every answer a decision."""
    guard = Guard(Settings(database_url=cluster_db.url), db=cluster_db, rules=RulesHolder(starter_evaluator))
    client = api_client(guard)
    message = {"channel": "email", "purpose": "marketing"}
    start = threading.Barrier(3)
    answers: dict[str, Any] = {}

    def batch(prefix: str) -> None:
        start.wait(30)
        answers[prefix] = client.post("/v1/decisions/batch", json={"message": message,
                                                                  "customer_ids": _names(prefix)})

    def singles() -> None:
        start.wait(30)
        answers["singles"] = [client.post("/v1/decisions", json={**message, "customer_id": f"one-{n}"})
                              for n in range(40)]

    threads = [threading.Thread(target=batch, args=(p,)) for p in ("x", "y")]
    threads.append(threading.Thread(target=singles))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    for prefix in ("x", "y"):
        response = answers[prefix]
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        errors = [r for r in response.get_json()["results"] if "error" in r]
        assert not errors and len(response.get_json()["results"]) == MAX_BATCH, errors[:3]
    assert [r.status_code for r in answers["singles"]] == [200] * 40
    engine = create_engine(cluster_db.url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM decisions").scalar() == 2 * MAX_BATCH + 40
    finally:
        engine.dispose()


def test_concurrent_batches_of_the_same_customers_count_each_other(cluster_db: Database,
                                                                    starter_evaluator: Evaluator):
    """The starter cap (3 marketing sends in 7 days) holds exactly when four batches of the same customers,
    and single decisions for them, are decided at once: every customer 3 allows, the rest deferred."""
    customers = _names("cap", 500)
    message = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
    start = threading.Barrier(5)
    results: list[dict[str, Any]] = []

    def batch(order: list[str]) -> None:
        start.wait(30)
        results.extend(decide_batch(cluster_db, starter_evaluator,
                                    [{**message, "customer_id": c} for c in order]))

    def singles() -> None:
        start.wait(30)
        results.extend(decide(cluster_db, starter_evaluator, {**message, "customer_id": c}) | {"customer_id": c}
                       for c in customers[:50])

    threads = [threading.Thread(target=batch, args=(customers[::step],)) for step in (1, -1)]
    threads += [threading.Thread(target=batch, args=(customers[n:] + customers[:n],)) for n in (170, 340)]
    threads.append(threading.Thread(target=singles))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(results) == 4 * 500 + 50 and not [r for r in results if "error" in r]
    allowed = Counter(r["customer_id"] for r in results if r["outcome"] == "allow")
    assert allowed == dict.fromkeys(customers, 3)
