"""Retention and erasure that keep the chain verifiable: purges leave a checkpoint, erasures an account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from guard.audit.chain import Entry, append
from guard.audit.digests import customer_digest, erasure_digest, pseudonym, purge_digest
from guard.audit.models import AuditCheckpoint, AuditErasure, AuditRecord
from guard.db import Database
from guard.decisions.models import Decision, DecisionReason
from guard.errors import NotFound
from guard.situation.models import Event
from guard.timeutil import utcnow


def purge(db: Database, before: datetime) -> dict[str, Any]:
    """Remove decisions and events recorded before `before`, and their chain records, behind a checkpoint."""
    with db.transaction() as session:
        upto = session.scalar(select(func.max(AuditRecord.seq)).where(AuditRecord.at < before))
        if upto is None:
            return {"purged": False, "decisions": 0, "events": 0, "records": 0}
        # Everything up to the last record older than `before` goes, so the chain stays one unbroken run.
        upto_hash = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == upto))
        counts = _purge_rows(session, upto)
        checkpoint = AuditCheckpoint(upto_seq=upto, upto_hash=upto_hash, before=before, created_at=utcnow(),
                                     counts=counts)
        session.add(checkpoint)
        session.execute(delete(AuditRecord).where(AuditRecord.seq <= upto))
        session.flush()
        append(session, [Entry("purge", str(upto), checkpoint.created_at,
                               purge_digest(upto, str(upto_hash), before, checkpoint.created_at, counts))])
        return {"purged": True, "upto_seq": upto, **counts}


def _purge_rows(session: Session, upto: int) -> dict[str, int]:
    """Delete the decisions and events whose chain records are purged."""
    counts = {"decisions": 0, "events": 0, "records": 0}
    counts["records"] = int(session.scalar(select(func.count()).select_from(AuditRecord)
                                           .where(AuditRecord.seq <= upto)) or 0)
    refs = select(AuditRecord.ref).where(AuditRecord.seq <= upto)
    pks = select(Decision.id).where(Decision.decision_id.in_(refs.where(AuditRecord.kind == "decision")))
    session.execute(delete(DecisionReason).where(DecisionReason.decision_pk.in_(pks)))
    counts["decisions"] = _deleted(session, delete(Decision).where(
        Decision.decision_id.in_(refs.where(AuditRecord.kind == "decision"))))
    counts["events"] = _deleted(session, delete(Event).where(
        Event.event_id.in_(refs.where(AuditRecord.kind == "event"))))
    return counts


def _deleted(session: Session, statement: Any) -> int:
    """Run a DELETE and say how many rows it removed."""
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount)


def erase_customer(db: Database, customer_id: str) -> dict[str, Any]:
    """Delete a customer's events and pseudonymise their decisions; counts and the chain stay verifiable."""
    digest = customer_digest(customer_id)
    with db.transaction() as session:
        event_ids = list(session.scalars(select(Event.event_id).where(Event.customer_id == customer_id)))
        decisions = list(session.scalars(select(Decision).where(Decision.customer_id == customer_id)))
        if not event_ids and not decisions:
            raise NotFound(f"Guard has no data about customer {customer_id!r}.", {"customer_id": customer_id})
        session.execute(delete(Event).where(Event.customer_id == customer_id))
        alias = pseudonym(customer_id)
        for decision in decisions:
            decision.customer_id = alias
            decision.request = {**decision.request, "customer_id": alias}
        session.flush()
        erasure = AuditErasure(customer_digest=digest, event_ids=event_ids, decisions=len(decisions),
                               created_at=utcnow())
        session.add(erasure)
        session.flush()
        append(session, [Entry("erasure", str(erasure.id), erasure.created_at,
                               erasure_digest(erasure.id, digest, event_ids, len(decisions), erasure.created_at))])
        return {"customer": alias, "events_deleted": len(event_ids), "decisions_pseudonymised": len(decisions)}



