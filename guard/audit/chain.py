"""Appending to the chain inside the writer's own transaction, so a record and its link commit together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from guard.audit.digests import GENESIS, link_hash
from guard.audit.models import AuditCheckpoint, AuditRecord
from guard.bulk import insert_rows

AUDIT_COLUMNS = ("seq", "kind", "ref", "at", "digest", "prev_hash", "hash")

# Any constant will do; it must be the same in every process writing to this database.
_CHAIN_LOCK = 0x61756469  # "audi"


@dataclass(frozen=True)
class Entry:
    """Something to record: its kind, its id, when, and the digest of its content."""

    kind: str
    ref: str
    at: datetime
    digest: str


def append(session: Session, entries: Iterable[Entry]) -> None:
    """Chain the entries after the newest record. Call it last in a transaction: the lock is held to commit."""
    entries = list(entries)
    if not entries:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time extends the chain; taken last, after per-customer locks, so no cycle forms.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    seq, prev = head(session)
    rows = []
    for entry in entries:
        seq += 1
        digest = link_hash(prev, seq, entry.kind, entry.ref, entry.at, entry.digest)
        rows.append({"seq": seq, "kind": entry.kind, "ref": entry.ref, "at": entry.at, "digest": entry.digest,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    insert_rows(session, "audit_records", AUDIT_COLUMNS, rows)


def head(session: Session) -> tuple[int, str]:
    """The newest record's sequence number and hash (after a purge, the checkpoint's)."""
    last = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)).first()
    if last is not None:
        return int(last[0]), str(last[1])
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    if checkpoint is not None:
        return checkpoint.upto_seq, checkpoint.upto_hash
    return 0, GENESIS
