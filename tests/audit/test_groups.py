"""One chained record per committed group: every leaf proves its inclusion, and verify names the first decision
altered, swapped or removed inside a group (issue 16)."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from guard.audit.proof import inclusion_proof
from guard.audit.retention import erase_customer, purge
from guard.audit.verify import verify
from guard.decisions import record
from guard.decisions.service import decide, decide_batch
from guard.ledger import merkle
from guard.storage.tables.audit import AuditRecord
from guard.storage.tables.decisions import Decision

MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 written out recursively: the reference the level-by-level build must equal."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def test_the_tree_is_rfc_6962_and_every_path_verifies():
    for size in range(1, 18):
        leaves = [os.urandom(32).hex() for _ in range(size)]
        root = merkle.root(leaves)
        assert root == _mth([bytes.fromhex(leaf) for leaf in leaves]).hex()
        for index in range(size):
            path = merkle.path(leaves, index)
            assert merkle.verify_path(leaves[index], index, size, path, root)
            if size > 1:
                assert not merkle.verify_path(leaves[index], (index + 1) % size, size, path, root)
                assert not merkle.verify_path(leaves[(index + 1) % size], index, size, path, root)
                assert not merkle.verify_path(leaves[index], index, size, path[:-1], root)


def _batch(guard, size: int, prefix: str) -> list[str]:
    answers = decide_batch(guard.db, guard.evaluator, [{**MESSAGE, "customer_id": f"{prefix}-{i}"}
                                                      for i in range(size)])
    return [a["decision_id"] for a in answers]


def _proof(guard, decision_id: str) -> dict:
    with guard.db.sessions() as session:
        return inclusion_proof(session, decision_id)


def _first_problem(guard):
    with guard.db.sessions() as session:
        report = verify(session)
    assert not report.ok
    return report.problems[0]


def _sql(guard, statement: str, **params) -> None:
    with guard.db.transaction() as session:
        session.execute(text(statement), params)


def test_every_leaf_of_groups_of_1_to_17_proves_its_inclusion(live_guard):
    from guard_client import verify_proof as client_verify

    groups = {size: _batch(live_guard, size, f"g{size}") for size in range(1, 18)}
    with live_guard.db.sessions() as session:
        records = select(func.count()).select_from(AuditRecord).where(AuditRecord.kind == "decisions")
        assert session.scalar(records) == 17
        assert verify(session).ok
    for size, ids in groups.items():
        for index, decision_id in enumerate(ids):
            proof = _proof(live_guard, decision_id)
            assert (proof["leaf"]["index"], proof["tree_size"]) == (index, size)
            assert merkle.verify_proof(proof) and client_verify(proof)
            forged = {**proof, "leaf": {**proof["leaf"], "digest": "0" * 64}}
            assert not merkle.verify_proof(forged) and not client_verify(forged)


def test_a_decision_chained_alone_proves_itself(live_guard):
    record.PER_DECISION_RECORDS = True  # the form before groups (and after a purge kept it)
    try:
        decision_id = decide(live_guard.db, live_guard.evaluator, {**MESSAGE, "customer_id": "old"})["decision_id"]
    finally:
        record.PER_DECISION_RECORDS = False
    proof = _proof(live_guard, decision_id)
    assert proof["record"]["kind"] == "decision" and proof["path"] == [] and merkle.verify_proof(proof)
    with live_guard.db.sessions() as session:
        assert verify(session).ok


@pytest.fixture
def groups(live_guard):
    """Three groups: 5, 7 and 4 decisions."""
    return live_guard, [_batch(live_guard, n, f"c{n}") for n in (5, 7, 4)]


def test_an_untouched_log_of_groups_verifies(groups):
    guard, _ = groups
    with guard.db.sessions() as session:
        assert verify(session).ok


@pytest.mark.parametrize("column, value", [("outcome", "'block'"), ("customer_id", "'someone-else'"),
                                           ("api_key_name", "'mallory'"), ("audit_digest", "'" + "0" * 64 + "'")])
def test_one_altered_decision_is_named(groups, column, value):
    guard, ids = groups
    target = ids[1][3]
    _sql(guard, f"UPDATE decisions SET {column} = {value} WHERE decision_id = :d", d=target)
    problem = _first_problem(guard)
    assert (problem.kind, problem.record) == ("altered", f"decision {target}"), problem


def test_two_swapped_decisions_are_named_first_in_leaf_order(groups):
    guard, ids = groups
    first, second = ids[1][2], ids[1][5]
    # Their outcomes traded, and separately their places in the group.
    _sql(guard, "UPDATE decisions SET outcome = 'block' WHERE decision_id = :d", d=first)
    assert _first_problem(guard).record == f"decision {first}"
    _sql(guard, "UPDATE decisions SET outcome = 'allow' WHERE decision_id = :d", d=first)
    _sql(guard, "UPDATE decisions SET audit_leaf = -1 WHERE decision_id = :d", d=first)
    _sql(guard, "UPDATE decisions SET audit_leaf = 2 WHERE decision_id = :d", d=second)
    _sql(guard, "UPDATE decisions SET audit_leaf = 5 WHERE decision_id = :d", d=first)
    problem = _first_problem(guard)
    assert (problem.kind, problem.record) == ("altered", f"decision {second}"), problem


def test_whole_rows_swapped_with_their_leaves_are_named(groups):
    """Someone moves every stored column but the id: the leaf no longer belongs to the decision holding it."""
    guard, ids = groups
    first, second = ids[0][1], ids[0][3]
    _sql(guard, "UPDATE decisions SET audit_leaf = -1 WHERE decision_id = :d", d=first)
    _sql(guard, "UPDATE decisions SET audit_leaf = 1, audit_digest = (SELECT audit_digest FROM decisions "
         "WHERE audit_leaf = 1 AND decision_id <> :f AND audit_group = (SELECT audit_group FROM decisions "
         "WHERE decision_id = :d)) WHERE decision_id = :d", d=second, f=first)
    problem = _first_problem(guard)
    assert problem.kind in ("altered", "inserted") and problem.record.startswith("decision "), problem


def test_a_deleted_decision_is_named_by_its_place(groups):
    guard, ids = groups
    target = ids[1][4]
    with guard.db.sessions() as session:
        group = session.scalar(select(Decision.audit_group).where(Decision.decision_id == target))
    _sql(guard, "DELETE FROM decisions WHERE decision_id = :d", d=target)
    problem = _first_problem(guard)
    assert (problem.kind, problem.record) == ("removed", f"decision #4 of group {group}"), problem
    assert ids[1][3] in problem.message


def test_the_last_decision_of_a_group_deleted_is_named(groups):
    guard, ids = groups
    target = ids[2][-1]
    _sql(guard, "DELETE FROM decisions WHERE decision_id = :d", d=target)
    problem = _first_problem(guard)
    assert problem.kind == "removed" and problem.record.startswith("decision #3 of group"), problem


def test_an_altered_group_record_is_named(groups):
    guard, _ = groups
    with guard.db.sessions() as session:
        seq = session.scalars(select(AuditRecord.seq).where(AuditRecord.kind == "decisions")
                              .order_by(AuditRecord.seq)).all()[1]
    _sql(guard, "UPDATE audit_records SET digest = :d WHERE seq = :s", d="1" * 64, s=seq)
    problem = _first_problem(guard)
    assert (problem.kind, problem.seq) == ("altered", seq), problem


def test_a_decision_inserted_into_a_group_is_named(groups):
    guard, ids = groups
    with guard.db.sessions() as session:
        group = session.scalar(select(Decision.audit_group).where(Decision.decision_id == ids[0][0]))
    _sql(guard, "UPDATE decisions SET audit_group = :g, audit_leaf = 5 WHERE decision_id = :d", g=group,
         d=ids[2][0])
    problem = _first_problem(guard)
    assert problem.record in (f"decision {ids[0][0]}", f"decision {ids[2][0]}") or "group" in problem.record, problem


def test_erasure_inside_a_group_verifies_and_only_a_vouched_erasure_excuses(groups):
    guard, ids = groups
    erase_customer(guard.db, "c7-3")
    with guard.db.sessions() as session:
        assert verify(session).ok
    proof = _proof(guard, ids[1][3])
    assert merkle.verify_proof(proof)
    # The erasure row's account altered: it vouches for nothing, and the scrubbed decision shows.
    _sql(guard, "UPDATE audit_erasures SET decisions = 0")
    problem = _first_problem(guard)
    assert problem.record in (f"decision {ids[1][3]}",) or problem.record.startswith("erasure"), problem


def test_purge_of_whole_groups_keeps_the_chain_verifiable(groups):
    guard, ids = groups
    later = _batch(guard, 3, "later")
    report = purge(guard.db, datetime(2100, 1, 1, tzinfo=UTC))
    assert report["purged"]
    with guard.db.sessions() as session:
        assert verify(session).ok
        left = set(session.scalars(select(Decision.decision_id)))
    for decision_id in left:
        assert merkle.verify_proof(_proof(guard, decision_id))
    assert left <= {*later, *(i for g in ids for i in g)}
    _batch(guard, 4, "after")
    with guard.db.sessions() as session:
        assert verify(session).ok


def test_audit_rows_per_thousand_decisions(live_guard):
    """The measure issue 16 asks for: audit rows per 1,000 decisions, per decision before, per group now."""
    def rows_for(per_decision: bool) -> int:
        record.PER_DECISION_RECORDS = per_decision
        try:
            with live_guard.db.sessions() as session:
                before = session.scalar(select(func.count()).select_from(AuditRecord))
            for chunk in range(10):  # ten batches of 100, as a campaign's calls come
                _batch(live_guard, 100, f"rows-{per_decision}-{chunk}")
            with live_guard.db.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(AuditRecord))) - before
        finally:
            record.PER_DECISION_RECORDS = False

    assert rows_for(True) == 1000
    assert rows_for(False) == 10
    with live_guard.db.sessions() as session:
        assert verify(session).ok


def test_decisions_chained_alone_before_groups_and_groups_verify_together(live_guard):
    """Migration 0015 re-chains nothing: decisions chained one record each (kept as they were) and groups
    after them verify as one chain, and an altered old one is still named."""
    record.PER_DECISION_RECORDS = True
    try:
        old = _batch(live_guard, 3, "before")
    finally:
        record.PER_DECISION_RECORDS = False
    new = _batch(live_guard, 3, "after")
    with live_guard.db.sessions() as session:
        assert verify(session).ok
        assert session.scalar(select(func.count()).select_from(Decision).where(Decision.audit_group.is_(None))) == 3
    assert all(merkle.verify_proof(_proof(live_guard, d)) for d in [*old, *new])
    _sql(live_guard, "UPDATE decisions SET outcome = 'block' WHERE decision_id = :d", d=old[1])
    assert _first_problem(live_guard).record == f"decision {old[1]}"
