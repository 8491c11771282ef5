"""The hash chain, its checkpoints after purges, and the erasures that legitimately removed records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class AuditRecord(Base):
    """One link of the chain: what was recorded (kind, ref), a digest of its content, and the chained hash."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_ref", "kind", "ref"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """After a purge: the chain now starts after `upto_seq`, whose hash was `upto_hash`."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    upto_seq: Mapped[int] = mapped_column(Integer)
    upto_hash: Mapped[str] = mapped_column(String(64))
    before: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditErasure(Base):
    """A customer's personal data erased: the events removed, by id, so their absence is accounted for."""

    __tablename__ = "audit_erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_digest: Mapped[str] = mapped_column(String(64))
    event_ids: Mapped[list[str]] = mapped_column(JSON)
    decisions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The decisions scrubbed of personal data, each with the digest of what it now holds.
    scrubbed: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
