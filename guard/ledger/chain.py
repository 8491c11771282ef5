"""Appending to the chain inside the writer's own transaction, so a record and its link commit together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from guard.core.timeutil import iso
from guard.ledger.digests import GENESIS, link_hash_at
from guard.storage.bulk import insert_tuples
from guard.storage.sql import Sql

AUDIT_COLUMNS = ("seq", "kind", "ref", "at", "digest", "prev_hash", "hash")
# The kind of a committed group's record: ref names the group (decisions.audit_group), digest is the Merkle
# root of its decisions' leaves (decisions.audit_digest, in audit_leaf order).
DECISION_GROUP = "decisions"

# Any constant will do; it must be the same in every process writing to this database.
CHAIN_LOCK = 0x61756469  # "audi"
LOCK_CHAIN = "SELECT pg_advisory_xact_lock(?)"  # with CHAIN_LOCK; whoever takes it sets Sql.chain_locked


@dataclass(frozen=True)
class Entry:
    """Something to record: its kind, its id, when, and the digest of its content."""

    kind: str
    ref: str
    at: datetime
    digest: str


def append(session: Session, entries: Iterable[Entry]) -> None:
    """Chain the entries after the newest record, in the session's transaction (see `extend`)."""
    extend(Sql.of_session(session), entries)


def extend(sql: Sql, entries: Iterable[Entry]) -> None:
    """Chain the entries after the newest record. Call it last in a transaction: the lock is held to commit."""
    entries = list(entries)
    if not entries:
        return
    lock_chain(sql)
    seq, prev = head(sql)
    rows = []
    at: datetime | None = None
    for entry in entries:
        seq += 1
        if entry.at is not at:  # the entries of one call mostly share one time: write it out once
            at, at_text, stored_at = entry.at, iso(entry.at) or "", sql.time(entry.at)
        digest = link_hash_at(prev, seq, entry.kind, entry.ref, at_text, entry.digest)
        rows.append((seq, entry.kind, entry.ref, stored_at, entry.digest, prev, digest))
        prev = digest
    insert_tuples(sql, "audit_records", AUDIT_COLUMNS, rows, prepared=True)


def lock_chain(sql: Sql) -> None:
    """One writer at a time extends the chain (PostgreSQL; SQLite's write lock is one already), to commit.
    Taken after per-customer locks, so no cycle forms."""
    if sql.postgres and not sql.chain_locked:
        sql.run(LOCK_CHAIN, (CHAIN_LOCK,))
        sql.chain_locked = True


def head(sql: Sql) -> tuple[int, str]:
    """The newest record's sequence number and hash (after a purge, the checkpoint's)."""
    last = sql.first("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
    if last is None:
        last = sql.first("SELECT upto_seq, upto_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
    if last is not None:
        return int(last[0]), str(last[1])
    return 0, GENESIS
