"""A decision's proof of inclusion: its leaf, the audit path to its group's Merkle root, the chained record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core.errors import NotFound
from guard.core.timeutil import iso
from guard.ledger import merkle
from guard.ledger.chain import DECISION_GROUP
from guard.storage.tables.audit import AuditRecord
from guard.storage.tables.decisions import Decision


def inclusion_proof(session: Session, decision_id: str) -> dict[str, Any]:
    """The proof that the decision's leaf is in the root its chained record holds (`merkle.verify_proof`
    checks it); NotFound for an unknown decision, or one whose record a purge removed."""
    found = session.execute(select(Decision.audit_group, Decision.audit_leaf, Decision.audit_digest)
                            .where(Decision.decision_id == decision_id)).first()
    if found is None:
        raise NotFound(f"No decision {decision_id!r}.", {"decision_id": decision_id})
    group, index, leaf = found
    if group is None:  # chained by a record of its own: the record holds its digest
        record = _record(session, "decision", decision_id)
        return _proof(decision_id, record.digest, 0, [], 1, record)
    record = _record(session, DECISION_GROUP, str(group), decision_id)
    stored = select(Decision.audit_digest).where(Decision.audit_group == group).order_by(Decision.audit_leaf,
                                                                                         Decision.id)
    leaves = [value or "" for value in session.scalars(stored)]
    position = index if index is not None and index < len(leaves) else 0
    return _proof(decision_id, leaf or "", index or 0, merkle.path(leaves, position), len(leaves), record)


def _record(session: Session, kind: str, ref: str, decision_id: str | None = None) -> AuditRecord:
    record = session.scalars(select(AuditRecord).where(AuditRecord.kind == kind, AuditRecord.ref == ref)
                             .order_by(AuditRecord.seq.desc()).limit(1)).first()
    if record is None:
        decision_id = decision_id or ref
        raise NotFound(f"Decision {decision_id!r} has no chained record (purged).", {"decision_id": decision_id})
    return record


def _proof(decision_id: str, leaf: str, index: int, path: list[str], size: int, record: AuditRecord
           ) -> dict[str, Any]:
    return {"decision_id": decision_id, "leaf": {"index": index, "digest": leaf}, "path": path,
            "tree_size": size, "root": record.digest,
            "record": {"seq": record.seq, "kind": record.kind, "ref": record.ref, "at": iso(record.at),
                       "digest": record.digest, "prev_hash": record.prev_hash, "hash": record.hash}}
