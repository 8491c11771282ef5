"""The audit chain: an untouched log verifies; altered, removed and inserted rows are named; purge and erasure
keep it verifiable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from guard.audit.retention import erase_customer, purge
from guard.audit.verify import verify
from guard.auth.keys import create_key, revoke_key
from guard.core.errors import NotFound
from guard.decisions.service import decide, decide_batch
from guard.lifecycle.versions import activate
from guard.situation.events import ingest_batch
from guard.storage.tables.audit import AuditRecord
from guard.storage.tables.decisions import Decision
from guard.storage.tables.situation import Event
from tests.conftest import event

MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}


@pytest.fixture
def history(live_guard):
    """A log with every kind of record: version and activation (seeded), keys, events, decisions."""
    guard = live_guard
    with guard.db.transaction() as session:
        key, _ = create_key(session, "crm", ["events"])
        revoke_key(session, key.id)
    ingest_batch(guard.db, [
        event("ann", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K-1"),
        event("bob", "purchase.completed", "2026-03-02T00:00:00Z", order_id="O", product_ids=["P"]),
    ])
    decide(guard.db, guard.evaluator, {**MESSAGE, "customer_id": "ann", "idempotency_key": "k1"})
    decide_batch(guard.db, guard.evaluator, [{**MESSAGE, "customer_id": c} for c in ("bob", "cid", "dan")])
    activate(guard.db, 1, "alice", "again")
    return guard


def _verify(guard):
    with guard.db.sessions() as session:
        return verify(session)


def _sql(guard, statement, **params):
    with guard.db.transaction() as session:
        session.execute(statement if not isinstance(statement, str) else text(statement), params)


def _decision_id(guard, customer):
    with guard.db.sessions() as session:
        return session.scalar(select(Decision.decision_id).where(Decision.customer_id == customer))


def test_an_untouched_log_verifies(history):
    report = _verify(history)
    assert report.ok, report.problems
    # seed version + seed activation + key created + revoked + 2 events + 2 groups of decisions + activation
    assert report.records == 9 and len(report.head) == 64


def test_an_altered_decision_is_named(history):
    target = _decision_id(history, "cid")
    _sql(history, update(Decision).where(Decision.decision_id == target).values(outcome="block"))
    problem = _verify(history).problems[0]
    assert (problem.kind, problem.record) == ("altered", f"decision {target}")


def test_an_altered_request_or_fact_is_named(history):
    target = _decision_id(history, "dan")
    with history.db.transaction() as session:
        decision = session.scalars(select(Decision).where(Decision.decision_id == target)).one()
        decision.facts = {**decision.facts, "local_time": "2026-03-10T03:00:00+00:00"}
    assert _verify(history).problems[0].record == f"decision {target}"


def test_an_altered_event_payload_is_named(history):
    with history.db.transaction() as session:
        stored = session.scalars(select(Event).where(Event.customer_id == "bob")).one()
        stored.data = {**stored.data, "product_ids": ["other"]}
        event_id = stored.event_id
    problem = _verify(history).problems[0]
    assert (problem.kind, problem.record) == ("altered", f"event {event_id}")


def test_a_deleted_decision_is_named(history):
    target = _decision_id(history, "bob")
    with history.db.sessions() as session:
        group, leaf = session.execute(select(Decision.audit_group, Decision.audit_leaf)
                                      .where(Decision.decision_id == target)).one()
    _sql(history, delete(Decision).where(Decision.decision_id == target))
    problem = _verify(history).problems[0]
    # Its id is gone with it: it is named by its place, and the decision after it.
    assert (problem.kind, problem.record) == ("removed", f"decision #{leaf} of group {group}")


def test_a_deleted_chain_record_is_named(history):
    _sql(history, delete(AuditRecord).where(AuditRecord.seq == 5))
    problem = _verify(history).problems[0]
    assert (problem.kind, problem.seq) == ("removed", 6)


def test_a_rewritten_chain_record_is_named(history):
    _sql(history, update(AuditRecord).where(AuditRecord.seq == 7).values(digest="0" * 64))
    problem = _verify(history).problems[0]
    assert (problem.kind, problem.seq) == ("altered", 7)


def test_an_inserted_decision_is_named(history):
    with history.db.transaction() as session:
        source = session.execute(select(Decision.__table__).where(Decision.customer_id == "cid")).mappings().one()
        forged = {**source, "id": 10_000, "decision_id": "forged-1", "idempotency_key": None}
        session.execute(insert(Decision.__table__), [forged])
    problem = _verify(history).problems[0]
    assert (problem.kind, problem.record) == ("inserted", "decision forged-1")


def test_purge_keeps_the_chain_verifiable(history):
    report = purge(history.db, datetime(2100, 1, 1, tzinfo=UTC))
    # Ann's complaint is still open and Bob's purchase is his latest: both stay, chained again.
    assert report["purged"] and report["decisions"] == 4 and report["events"] == 0 and report["kept_events"] == 2
    after = _verify(history)
    assert after.ok, after.problems
    decide(history.db, history.evaluator, {**MESSAGE, "customer_id": "eve"})
    assert _verify(history).ok


def test_erasure_removes_personal_data_and_keeps_counts_and_chain(history):
    with history.db.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Decision))
    result = erase_customer(history.db, "ann")
    assert result["events_deleted"] == 1 and result["decisions_pseudonymised"] == 1
    with history.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == before
        assert session.scalar(select(func.count()).select_from(Event).where(Event.customer_id == "ann")) == 0
        ids = list(session.scalars(select(Decision.customer_id)))
        requests = [d.request for d in session.scalars(select(Decision))]
    assert "ann" not in ids and all(r["customer_id"] != "ann" for r in requests)
    report = _verify(history)
    assert report.ok, report.problems
    with pytest.raises(NotFound):
        erase_customer(history.db, "ann")
